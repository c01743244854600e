"""Fault injection: SIGKILL `metarl-gym evolve` / `baseline` at seeded random points (between and during writes),
resume, and compare with an uninterrupted run (metrics identical except wall_s; best.pt identical)."""

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from metarl_gym.baselines.run import run_baseline
from metarl_gym.evolution.runner import evolve

EVOLVE = {
    "env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 200}},
    "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4]}},
    "strategy": {"name": "cma_es", "pop_size": 32, "kwargs": {"sigma0": 0.5}},
    "generations": 40, "episodes": 2, "seed": 11, "checkpoint_every": 3,
}
BASELINE = {
    "algorithm": "ppo", "env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 50}}, "num_envs": 2,
    "total_timesteps": 3072, "seed": 4, "device": "cpu", "threads": 1, "log_interval_steps": 64,
    "algorithm_kwargs": {"n_steps": 32, "batch_size": 64, "n_epochs": 1, "policy_kwargs": {"net_arch": [8]}},
}


def rows(run_dir):
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]  # a partial last line is not a row
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(lines)]


def kill_at(command, run_dir, target_rows, extra_delay, timeout=120):
    """Start ``command``, SIGKILL it once metrics.csv has ``target_rows`` rows plus ``extra_delay`` seconds (the
    delay lands the kill at an arbitrary point: inside an evaluation, a checkpoint or a metrics write)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None and len(rows(run_dir)) < target_rows:
        time.sleep(0.005)
    time.sleep(extra_delay)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return process.returncode


def test_evolve_sigkill_at_random_points_resumes_exactly(tmp_path):
    rng = random.Random(2026)
    evolve(EVOLVE, tmp_path / "straight", progress=False)
    expected = rows(tmp_path / "straight")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(EVOLVE))
    run = tmp_path / "killed"
    cli = [sys.executable, "-m", "metarl_gym.cli"]
    kills = 0
    command = cli + ["evolve", str(path), "--run-dir", str(run), "--no-progress"]
    for target in sorted(rng.sample(range(2, EVOLVE["generations"] - 5), 3)):
        if kill_at(command, run, target, rng.uniform(0, 0.05)) == -signal.SIGKILL:
            kills += 1
        command = cli + ["evolve", "--resume", str(run), "--no-progress"]
    assert kills >= 2, "the run finished before it could be killed"
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    assert rows(run) == expected
    a, b = (torch.load(d / "best.pt", weights_only=True) for d in (tmp_path / "straight", run))
    assert torch.equal(a["params"], b["params"]) and a["fitness"] == b["fitness"]


def test_baseline_sigkill_then_resume_gives_the_uninterrupted_result(tmp_path):
    rng = random.Random(7)
    run_baseline(BASELINE, tmp_path / "straight")
    expected = rows(tmp_path / "straight")
    assert len(expected) > 10
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(BASELINE))
    run = tmp_path / "killed"
    code = kill_at([sys.executable, "-m", "metarl_gym.cli", "baseline", str(path), "--run-dir", str(run), "--no-progress"],
                   run, rng.randrange(2, len(expected) - 4), rng.uniform(0, 0.05))
    assert code == -signal.SIGKILL, "the baseline finished before it could be killed"
    assert 0 < len(rows(run)) < len(expected)
    subprocess.run([sys.executable, "-m", "metarl_gym.cli", "baseline", "--resume", str(run), "--no-progress"],
                   check=True, capture_output=True, timeout=120)
    assert rows(run) == expected
    assert (run / "model.zip").exists()
