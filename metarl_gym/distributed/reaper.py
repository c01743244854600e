"""Stop a local Ray instance's processes when the driver that started it exits, however it exits.

Ray ties its head processes (GCS, raylet) to the driver, but a driver killed with SIGKILL left the raylet's agents
(``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) running forever, re-parented to init. :class:`Reaper` starts a
small stdlib-only process that holds the read end of a pipe from the driver: the pipe closes when the driver
closes it (:meth:`Reaper.finish`) or dies, and the reaper then stops (SIGTERM, then SIGKILL after a grace
period) every process that names the session directory in its command line or holds a file open in it, the
driver excepted. It runs as a script (``python -I reaper.py SESSION_DIR DRIVER_PID``), so it imports neither
Ray nor this package.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

__all__ = ["Reaper", "reap", "session_pids"]


def _mentions(pid: int, session_dir: str) -> bool:
    """Whether process ``pid`` names ``session_dir`` in its command line or holds a file open inside it."""
    needle = session_dir.rstrip("/")
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if needle.encode() in f.read():
                return True
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target == needle or target.startswith(needle + "/"):
                return True
    except OSError:  # gone, or not ours to read
        return False
    return False


def session_pids(session_dir: str, exclude: tuple[int, ...] = ()) -> list[int]:
    """Processes of the Ray session in ``session_dir`` (see :func:`_mentions`), ``exclude`` and this one left out."""
    skip = {os.getpid(), *exclude}
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in skip and _mentions(int(entry), session_dir):
            pids.append(int(entry))
    return pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone but for its exit status
    except OSError:
        return False


def reap(session_dir: str, exclude: tuple[int, ...] = (), grace_s: float = 3.0) -> list[int]:
    """SIGTERM the session's processes, SIGKILL those still there after ``grace_s``; returns the pids found."""
    found: list[int] = []
    for _ in range(3):  # a process may start while the others stop
        pids = session_pids(session_dir, exclude)
        if not pids:
            break
        found += pids
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        for pid in pids:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    return found


class Reaper:
    """The reaper process of one Ray session (see the module docstring).

    Args:
        process: the reaper's :class:`subprocess.Popen` (its stdin is the driver's end of the pipe).
        session_dir: the session it stops.
    """

    def __init__(self, process: subprocess.Popen, session_dir: str):
        self.process = process
        self.session_dir = session_dir

    @classmethod
    def start(cls, session_dir: str) -> Reaper:
        """Start the reaper of ``session_dir`` for this process (the driver)."""
        process = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), session_dir, str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # a signal to the driver's process group (Ctrl-C, timeout) leaves it running
        )
        return cls(process, session_dir)

    @classmethod
    def start_for_current_session(cls) -> Reaper | None:
        """The reaper of the Ray instance this process just started (None if Ray does not tell its session or
        this is not Linux)."""
        if not os.path.isdir("/proc/self/fd"):
            return None
        try:
            import ray

            session_dir = ray._private.worker._global_node.get_session_dir_path()
        except Exception:  # a Ray without this (private) attribute: no reaper, Ray's own cleanup only
            return None
        return cls.start(session_dir)

    def finish(self, timeout_s: float = 30.0) -> None:
        """Close the pipe (the reaper stops what is left of the session) and wait for the reaper to exit."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main(argv: list[str]) -> int:
    """``reaper.py SESSION_DIR DRIVER_PID``: wait for stdin's end, then :func:`reap` the session."""
    session_dir, driver = argv[1], int(argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while sys.stdin.buffer.read(65536):  # the driver never writes: this returns at EOF, when it closes or dies
        pass
    reap(session_dir, exclude=(driver,))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
