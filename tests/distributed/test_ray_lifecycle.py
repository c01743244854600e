"""Ray's lifecycle around a run (issue 19, "Hangs"): an unreachable cluster fails within
``distributed.connect_timeout_s`` in one line; SIGTERM of a Ray-backed run checkpoints and exits like a local
one; no process of the driver's Ray session is left after SIGTERM or SIGKILL, and the run resumes.

Every Ray instance here is local: the drivers run ``address: null`` (a new instance of ``num_workers = 2`` CPUs);
the unreachable addresses are a closed port and a socket of this test that never answers.
"""

from __future__ import annotations

import csv
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from metarl_gym.cli import main
from metarl_gym.distributed import resolve_distributed
from metarl_gym.errors import UserError

pytest.importorskip("ray")
from metarl_gym.distributed import ray_init  # noqa: E402  (imports ray)
from metarl_gym.distributed.reaper import session_pids  # noqa: E402
from ray_faults import RAY_CHILD, ray_session_report  # noqa: E402
from write_faults import start_child  # noqa: E402

CONFIG = {
    "env": {"id": "Pendulum-v1", "kwargs": {"max_episode_steps": 20}},
    "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4]}},
    "strategy": {"name": "ga", "pop_size": 12, "kwargs": {"num_survivors": 4, "elitism": 2}},
    "generations": 12,
    "seed": 5,
    "distributed": {"backend": "ray", "num_workers": 2},
}


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metarl_gym.cli", *args], capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------------------------------- connecting
@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_unreachable_address_one_line_before_the_run_directory(tmp_path, address):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    start = time.monotonic()
    done = _cli("evolve", str(path), "--run-dir", str(tmp_path / "run"), "--no-progress", f"distributed.address={address}",
                "distributed.connect_timeout_s=5")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and f"distributed.address {address!r}: cannot reach 127.0.0.1:1" in done.stderr
    assert time.monotonic() - start < 120  # imports on busy cores; the connection itself is refused at once
    assert not (tmp_path / "run").exists()


def test_silent_address_fails_within_connect_timeout():
    """A port that accepts TCP connections but never speaks Ray: one line after connect_timeout_s, not minutes."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        code = ("import time; from metarl_gym.distributed.ray_init import connect\n"
                "start = time.monotonic()\n"
                f"try:\n    connect('127.0.0.1:{port}', 4.0)\n"
                "except Exception as e:\n    print(type(e).__name__, round(time.monotonic() - start, 1), e)\n")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    name, seconds, message = done.stdout.split(" ", 2)
    assert name == "UserError", done.stdout + done.stderr
    assert float(seconds) < 60, done.stdout  # Ray's import in the handshake child, then 4 s (Ray alone waits 40 s)
    assert f"distributed.address '127.0.0.1:{port}': no Ray cluster answered within 4 s" in message
    assert message.count("\n") == 1


def test_auto_without_a_cluster(monkeypatch):
    import ray._private.services as services

    def nothing(address, temp_dir=None):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(services, "canonicalize_bootstrap_address", nothing)
    with pytest.raises(UserError, match=r"distributed.address 'auto': no running Ray cluster found"):
        ray_init.resolve_address("auto", "fix")


@pytest.mark.parametrize("address, words", [
    ("foo", "must be null"), ("host:0", "must be null"), ("host:99999", "must be null"), ("http://host:1", "only scheme is ray://"),
])
def test_malformed_addresses(address, words):
    with pytest.raises(UserError, match=words):
        ray_init.resolve_address(address, "fix")
    assert ray_init.resolve_address("ray://head:10001", "fix") == ("head", 10001)
    assert ray_init.resolve_address("[::1]:6379", "fix") == ("::1", 6379)


@pytest.mark.parametrize("value", [0, -1, True, float("inf"), "30"])
def test_connect_timeout_checked(value):
    assert resolve_distributed(None)["connect_timeout_s"] == 30.0
    with pytest.raises(UserError, match="distributed.connect_timeout_s"):
        resolve_distributed({"connect_timeout_s": value})


# ---------------------------------------------------------------------------------------------- stopping
def _rows(run: Path) -> int:
    with open(run / "metrics.csv") as f:
        return sum(1 for _ in csv.DictReader(f))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_stopped_driver_leaves_no_ray_process_and_resumes(ray_local, tmp_path, capsys, signum):
    """The driver signals itself right after generation 1's metrics row (write_faults, KILL_FILE=metrics.csv),
    having listed the processes of its Ray session; afterwards none of them, nor any process of the session, is left."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    run = tmp_path / "run"
    driver = start_child(["evolve", str(path), "--run-dir", str(run), "--no-progress"], kill_at=2, kill_file="metrics.csv",
                         kill_signal=signum.name, child=RAY_CHILD)
    try:
        _, err = driver.communicate(timeout=240)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    if signum == signal.SIGTERM:  # like a local run: the runner's message, exit 128 + 15, no Ray crash dump
        assert driver.returncode == 128 + signal.SIGTERM, err
        assert "SIGTERM: stopped after generation 1 (checkpoint saved); resume with" in err, err
        assert "Traceback" not in err
    else:
        assert driver.returncode == -signal.SIGKILL, err
    assert _rows(run) == 2

    session, processes = ray_session_report(err)
    assert Path(session).name.endswith(f"_{driver.pid}"), session  # the session this driver started
    commands = list(processes.values())  # the session's processes when the driver was stopped: they must all go
    assert any("/raylet " in c for c in commands) and any("/gcs_server " in c for c in commands), processes
    assert sum(c.startswith("ray::SliceWorker") for c in commands) == CONFIG["distributed"]["num_workers"], processes
    deadline = time.monotonic() + 60  # the reaper stops the session's processes (SIGTERM, then SIGKILL after 3 s)
    while time.monotonic() < deadline and session_pids(session):  # every process that names the session, listed ones included
        time.sleep(0.1)
    assert session_pids(session) == [], f"processes of {session} are still running"

    assert main(["evolve", "--resume", str(run), "--no-progress"]) == 0, capsys.readouterr().err
    assert _rows(run) == CONFIG["generations"]
