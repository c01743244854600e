"""Connecting to Ray: a local instance on this machine when no address is given, else the named cluster.

Three things Ray does on its own that a run must not inherit:

* ``ray.init(address=...)`` of an address where nothing answers retries for minutes (``127.0.0.1:1``: 3.5 min)
  and ``auto`` / ``ray://`` without a cluster end in a traceback. :func:`connect` resolves the address, opens a
  TCP connection to it and lets a child process try Ray's handshake first: each fails within
  ``distributed.connect_timeout_s`` with one :class:`~metarl_gym.errors.UserError` line.
* ``ray.init`` replaces the process's SIGTERM handler with ``sys.exit``, so SIGTERM of a Ray-backed run died with
  a Ray crash dump instead of the runner's "checkpoint saved, resume with ...". The handler in place before
  ``ray.init`` (the runner's) is put back.
* actors that the cluster cannot place (its CPUs / GPUs taken by other jobs, or no node large enough for one
  worker) wait forever without a word. :func:`placement_notice` says what the run waits for and what is free.
* a driver killed with SIGKILL left Ray's agents (``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) running
  forever. A local instance gets a reaper process (:mod:`.reaper`) that stops every process of its session when
  the driver exits, however it exits.
"""

from __future__ import annotations

import math
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import ray

from ..errors import UserError
from .reaper import Reaper

_REAPER: Reaper | None = None
"""The reaper of the local Ray instance this process started (None when it started none)."""


def init_ray(cfg: dict[str, Any]) -> bool:
    """Make sure this process is connected to Ray; True if this call started (and so owns) the connection.

    Args:
        cfg: a resolved ``distributed`` section. ``address: null`` starts a new Ray instance on this machine
            with ``ceil(num_workers * num_cpus_per_worker)`` CPUs (no dashboard); ``"auto"`` joins the cluster
            started with ``ray start --head`` on this node; ``"host:port"`` a cluster's GCS; ``"ray://host:10001"``
            joins a remote cluster through Ray Client. If Ray is already initialised in this process, it is used
            as it is. ``connect_timeout_s`` bounds the wait for a cluster.

    Raises:
        UserError: the address cannot be resolved, reached or connected to within ``connect_timeout_s`` (one
            line naming the address and what to do).
    """
    global _REAPER
    if ray.is_initialized():
        return False
    with _keep_sigterm_handler():
        if cfg["address"] is None:
            kwargs: dict[str, Any] = {
                "address": "local",  # always a new instance on this machine, never a cluster found by chance
                "num_cpus": max(1, math.ceil(cfg["num_workers"] * cfg["num_cpus_per_worker"])),
                "include_dashboard": False,
            }
            if cfg["num_gpus_per_worker"] == 0:
                kwargs["num_gpus"] = 0
            ray.init(**kwargs)
            _REAPER = Reaper.start_for_current_session()  # stops the session's processes when this one exits
        else:
            connect(cfg["address"], float(cfg.get("connect_timeout_s", 30.0)))
    return True


def shutdown_ray() -> None:
    """``ray.shutdown()`` and, for a local instance this process started, stop whatever of its session is left
    (Ray leaves its agents behind in some exits)."""
    global _REAPER
    if ray.is_initialized():
        ray.shutdown()
    if _REAPER is not None:
        _REAPER.finish()
        _REAPER = None


def placement_notice(waiting: int, total: int, cfg: dict[str, Any]) -> str:
    """One line for ``waiting`` of ``total`` workers that Ray has not placed within ``connect_timeout_s``: what
    each asks for, what the cluster has free, and whether any node could ever hold one.

    Args:
        waiting: workers not started yet.
        total: workers asked for.
        cfg: the resolved ``distributed`` section.
    """
    cpus, gpus = float(cfg["num_cpus_per_worker"]), float(cfg["num_gpus_per_worker"])
    free, whole = ray.available_resources(), ray.cluster_resources()
    each = f"{cpus:g} CPU" + (f" and {gpus:g} GPU" if gpus else "")
    have = f"{free.get('CPU', 0.0):g} of {whole.get('CPU', 0.0):g} CPUs" + (
        f" and {free.get('GPU', 0.0):g} of {whole.get('GPU', 0.0):g} GPUs" if gpus else "")
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    if not any(r.get("CPU", 0.0) >= cpus and r.get("GPU", 0.0) >= gpus for r in nodes):
        then = ("no node of the cluster has that much, so they start only if one joins: lower "
                "distributed.num_cpus_per_worker / num_gpus_per_worker or add a larger node (Ctrl-C stops the run)")
    else:
        then = "they start when other jobs free that much (Ctrl-C stops the run)"
    return (f"waiting for Ray to place {waiting} of {total} workers ({each} each); the cluster has {have} free; "
            f"{then}")


def connect(address: str, timeout_s: float) -> None:
    """``ray.init(address=address)`` that fails within ``timeout_s`` seconds with one line.

    The address is resolved and a TCP connection opened to it (refused / unknown host fail at once); then a
    child process connects with ``ray.init`` and disconnects (:func:`handshake`), killed if the cluster has not
    answered within ``timeout_s``: Ray's own connection waits block in C++ for 40 s to minutes, where no
    signal or timer of this process can cut them short. Only then does this process connect.

    Args:
        address: ``"auto"``, ``"host:port"`` or ``"ray://host:port"``.
        timeout_s: the most seconds to wait for the cluster (TCP connect, then Ray's handshake).

    Raises:
        UserError: naming the address, what failed and the fix.
    """
    fix = ("start the cluster (`ray start --head`), fix distributed.address, or set distributed.address: null to run "
           "on a local Ray")
    host, port = resolve_address(address, fix)
    probe(address, host, port, timeout_s, fix)
    failure = handshake(address, timeout_s)
    if failure is not None:
        raise UserError(f"distributed.address {address!r}: {failure}; {fix}")
    try:
        ray.init(address=address)
    except Exception as error:  # ConnectionError, RuntimeError, grpc errors: Ray's own words, on one line
        _quiet_shutdown()
        raise UserError(f"distributed.address {address!r}: Ray could not connect ({_first_line(error)}); {fix}") from None


_HANDSHAKE = """\
import sys
import ray
print("imported", flush=True)
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
ray.shutdown()
print("connected", flush=True)
"""


def handshake(address: str, timeout_s: float, import_timeout_s: float = 120.0) -> str | None:
    """Connect to ``address`` from a child process; None if the cluster answered within ``timeout_s`` (counted
    from when the child has imported Ray), else why not.

    Args:
        address: the address as given to ``ray.init``.
        timeout_s: the most seconds the cluster may take to answer.
        import_timeout_s: the most seconds the child may take to import Ray (a busy machine).
    """
    with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe: Ray's log lines never block the child
        child = subprocess.Popen([sys.executable, "-c", _HANDSHAKE, address], stdout=subprocess.PIPE, stderr=errors,
                                 text=True, start_new_session=True)

        def why() -> str:
            child.wait(timeout=10)
            errors.seek(0)
            return _last_line(errors.read())

        try:
            if _read_line(child, import_timeout_s) != "imported":
                return f"Ray could not start a connection ({why()})"
            if _read_line(child, timeout_s) == "connected":
                return None
            if child.poll() is None:
                return f"no Ray cluster answered within {timeout_s:g} s (distributed.connect_timeout_s)"
            return f"Ray could not connect ({why()})"
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            child.stdout.close()


def _read_line(child: subprocess.Popen, timeout_s: float) -> str | None:
    """The child's next stdout line within ``timeout_s`` (None at the deadline or at its exit)."""
    ready, _, _ = select.select([child.stdout], [], [], timeout_s)
    if not ready:
        return None
    line = child.stdout.readline()
    return line.strip() if line else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _first_line(error: BaseException) -> str:
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def resolve_address(address: str, fix: str) -> tuple[str, int]:
    """``(host, port)`` of ``address`` (``"auto"`` looked up as Ray does: ``RAY_ADDRESS``, the last
    ``ray start``, a running GCS on this machine).

    Raises:
        UserError: ``auto`` finds no cluster; an address that is not ``host:port`` / ``ray://host:port``.
    """
    target = address
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        try:
            target = canonicalize_bootstrap_address("auto")
        except (ConnectionError, ValueError) as error:
            raise UserError(f"distributed.address 'auto': no running Ray cluster found on this machine "
                            f"({' '.join(str(error).split())}); {fix}") from None
        if target is None:
            raise UserError(f"distributed.address 'auto': no running Ray cluster found on this machine; {fix}")
    if "://" in target:
        scheme, _, target = target.partition("://")
        if scheme != "ray":
            raise UserError(f"distributed.address {address!r}: the only scheme is ray:// (Ray Client), e.g. "
                            "ray://head-node:10001")
    host, sep, port = target.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"distributed.address {address!r}: must be null, \"auto\", \"host:port\" or "
                        "\"ray://host:port\" (e.g. 127.0.0.1:6379 or ray://head-node:10001)")
    return host, int(port)


def probe(address: str, host: str, port: int, timeout_s: float, fix: str) -> None:
    """Open (and close) a TCP connection to ``host:port`` within ``timeout_s``.

    Raises:
        UserError: refused, unreachable, unknown host or no answer in time.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.timeout:
        raise UserError(f"distributed.address {address!r}: no answer from {host}:{port} within {timeout_s:g} s "
                        f"(distributed.connect_timeout_s); {fix}") from None
    except OSError as error:
        why = error.strerror or str(error) or type(error).__name__
        raise UserError(f"distributed.address {address!r}: cannot reach {host}:{port} ({why}); {fix}") from None


@contextmanager
def _keep_sigterm_handler() -> Iterator[None]:
    """Put back the SIGTERM handler that a Python caller installed before ``ray.init`` (the runner's: checkpoint
    and exit); Ray's own ``sys.exit`` handler stays only where there was none."""
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if on_main else None
    try:
        yield
    finally:
        if on_main and previous is not None and previous is not signal.SIG_DFL:
            signal.signal(signal.SIGTERM, previous)


def _quiet_shutdown() -> None:
    try:
        if ray.is_initialized():
            ray.shutdown()
    except Exception:  # a half-made connection: nothing left to stop
        pass
