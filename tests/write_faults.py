"""Kill a command at a chosen run-directory write (shared by the fault tests).

The child process (``python -c CHILD argv...``, so that SIGKILL is real: no ``finally`` runs, no buffer is flushed)
counts its run-directory writes (every file goes through ``run_dir.atomic_file`` or ``RunDir.append_metrics``) and,
when ``KILL_AT`` says so, kills itself at write number K: before it, half-way through it (the temporary file written
but not renamed, or half a metrics row appended), or right after it. With ``KILL_FILE`` set only the writes of
that file name count (``metrics.csv``: write K is generation K - 1's row). Callables appended to ``on_kill`` (a
child built as ``INJECT + code + MAIN``) run just before the signal is sent. :func:`count_writes` runs a command
here with the same counting wrappers, never killing, to know how many writes an uninterrupted run makes.
"""

import os
import signal
import subprocess
import sys

INJECT = r"""
import contextlib, os, signal
from metarl_gym import run_dir as rdm

kill_at = int(os.environ.get("KILL_AT", "0"))
mode = os.environ.get("KILL_MODE", "after")
kill_file = os.environ.get("KILL_FILE", "")  # empty: every write counts
count = [0]
on_kill = []  # callables run just before the signal (a child's report of its state)

kill_signal = getattr(signal, os.environ.get("KILL_SIGNAL", "SIGKILL"))

def counted(path):
    if not kill_file or os.path.basename(str(path)) == kill_file:
        count[0] += 1
        return count[0] == kill_at
    return False

def die():
    for report in on_kill:
        report()
    os.kill(os.getpid(), kill_signal)  # SIGKILL ends here; SIGTERM / SIGINT reach the command's handler and it goes on

original_atomic_file = rdm.atomic_file
@contextlib.contextmanager
def atomic_file(path, *args, **kwargs):
    # every whole-file write of a RunDir (write_bytes, atomic_path, truncate_metrics) goes through here
    hit = counted(path)
    if hit and mode == "before":
        die()
    with original_atomic_file(path, *args, **kwargs) as tmp:
        yield tmp
        if hit and mode == "mid":
            die()  # the temporary file written, not yet renamed over the target
    if hit:
        die()
rdm.atomic_file = atomic_file

original_append = rdm.RunDir.append_metrics
def append_metrics(self, row, columns=None):
    hit = counted("metrics.csv")
    if hit and mode == "before":
        die()
    if hit and mode == "mid":
        with open(self.path("metrics.csv"), "a") as f:
            f.write(",".join(str(v) for v in row.values())[:7])  # half a row
        die()
    original_append(self, row, columns)
    if hit:
        die()
rdm.RunDir.append_metrics = append_metrics
"""

MAIN = r"""
import sys
import metarl_gym.baselines.er_mrl, metarl_gym.evolution.runner  # the imports done: SIGTERM finds the handlers set
from metarl_gym.cli import main

print("ready", flush=True)
sys.exit(main(sys.argv[1:]))
"""

CHILD = INJECT + MAIN


def start_child(argv, kill_at=0, mode="after", kill_signal="SIGKILL", kill_file="", child=CHILD) -> subprocess.Popen:
    """Start ``metarl-gym ARGV`` in a child process (code ``child``) that sends itself ``kill_signal`` at write
    ``kill_at`` (0: never; of the file named ``kill_file`` only, if given) in ``mode`` (before, mid, after)."""
    env = {**os.environ, "KILL_AT": str(kill_at), "KILL_MODE": mode, "KILL_SIGNAL": kill_signal, "KILL_FILE": kill_file}
    return subprocess.Popen([sys.executable, "-c", child, *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_child(argv, kill_at=0, mode="after", kill_signal="SIGKILL", kill_file=""):
    """Run ``metarl-gym ARGV`` in a child process that sends itself ``kill_signal`` at write ``kill_at`` (0: never;
    of the file named ``kill_file`` only, if given) in ``mode`` (before, mid, after). Returns (exit status,
    stderr); the status is -SIGKILL when it was killed."""
    proc = start_child(argv, kill_at, mode, kill_signal, kill_file)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def count_writes(run, monkeypatch) -> int:
    """Call ``run()`` here (the uninterrupted reference) and return how many writes it made, as a child counts them."""
    from metarl_gym import run_dir as rdm

    monkeypatch.setenv("KILL_AT", "0")
    scope = {}
    exec(INJECT, scope)  # the same counting wrappers, never killing (KILL_AT=0)
    try:
        run()
    finally:
        rdm.atomic_file = scope["original_atomic_file"]
        rdm.RunDir.append_metrics = scope["original_append"]
    return scope["count"][0]


def kill_and_resume(argv, resume_argv, total_writes, rng, kills=3) -> None:
    """Kill ``metarl-gym ARGV`` at ``kills`` seeded random points of an uninterrupted run's ``total_writes`` writes
    (before / in the middle of / after them), each child resuming what the previous one left (``ARGV`` again
    for the first, then ``RESUME_ARGV``), then let ``RESUME_ARGV`` finish."""
    points = sorted(rng.sample(range(1, total_writes + 1), kills))
    previous, command = 0, argv
    for point, mode in zip(points, ["mid", "before", "after"] * kills):
        rc, err = run_child(command, kill_at=point - previous, mode=mode)  # child k dies about where the reference makes write p_k
        assert rc == -signal.SIGKILL, f"write {point - previous} ({mode}) was not reached\n{err}"
        previous, command = point, resume_argv
    rc, err = run_child(resume_argv)
    assert rc == 0, err
