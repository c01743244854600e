"""Deterministic faults for the Ray tests: a worker that dies at a chosen slice, a driver that dies at a chosen write.

Workers: :func:`kill_worker_at` replaces ``ray_evaluator.SliceWorker`` (for the backends built while the
monkeypatch holds) by a subclass whose ``evaluate`` SIGKILLs its own process when it receives the slice starting
at individual ``start`` of ``generation``, before evaluating it. A plan file decides which worker dies: the first
to rename it (atomic) is the one, so a replacement worker that gets the same slice again evaluates it. The class
is defined inside a function, so Ray ships it by value; its base class is the package's, imported by the worker.

Drivers: :data:`RAY_CHILD` is tests/write_faults.py's child plus one report: just before it signals itself, the
driver prints its Ray session directory and the pid and command of each process of that session to stderr
(``ray-session DIR`` then ``ray-process PID COMMAND`` lines), read back by :func:`ray_session_report`.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import write_faults
from metarl_gym.distributed import ray_evaluator

RAY_CHILD = write_faults.INJECT + r"""
def report_ray_session():
    import sys
    import ray
    from metarl_gym.distributed.reaper import session_pids
    session = ray._private.worker._global_node.get_session_dir_path()
    lines = [f"ray-session {session}"]
    for pid in session_pids(session):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")[:200]
        except OSError:
            continue
        lines.append(f"ray-process {pid} {command}")
    print("\n".join(lines), file=sys.stderr, flush=True)
on_kill.append(report_ray_session)
""" + write_faults.MAIN


def ray_session_report(err: str) -> tuple[str, dict[int, str]]:
    """``(session dir, {pid: command})`` from a :data:`RAY_CHILD`'s stderr."""
    sessions = [line.split(" ", 1)[1] for line in err.splitlines() if line.startswith("ray-session ")]
    assert len(sessions) == 1, f"the driver did not report its Ray session once\n{err}"
    processes = {}
    for line in err.splitlines():
        if line.startswith("ray-process "):
            _, pid, command = line.split(" ", 2)
            processes[int(pid)] = command
    return sessions[0], processes


def kill_worker_at(monkeypatch, tmp_path: Path, generation: int, start: int) -> Path:
    """Make the Ray backends built from now on (in this process) lose the worker that receives the slice at
    ``start`` of ``generation``: it SIGKILLs itself. Returns the plan file; :func:`killed_worker` reads it."""
    plan = tmp_path / f"kill-worker-g{generation}-s{start}"
    plan.write_text("")
    monkeypatch.setattr(ray_evaluator, "SliceWorker", _killing_slice_worker(str(plan), generation, start))
    return plan


def killed_worker(plan: Path) -> int:
    """The pid of the worker that died by ``plan`` (fails if none did)."""
    claimed = list(plan.parent.glob(plan.name + ".*"))
    assert not plan.exists() and len(claimed) == 1, f"no worker took the kill plan {plan}"
    return int(claimed[0].suffix[1:])


def _killing_slice_worker(plan: str, kill_generation: int, kill_start: int):
    base = ray_evaluator.SliceWorker

    class KillingSliceWorker(base):
        def evaluate(self, params, start, generation):
            if (generation, start) == (kill_generation, kill_start):
                try:
                    os.rename(plan, f"{plan}.{os.getpid()}")  # one worker only: the next gets FileNotFoundError
                except FileNotFoundError:
                    pass
                else:
                    os.kill(os.getpid(), signal.SIGKILL)
            return base.evaluate(self, params, start, generation)

    return KillingSliceWorker
