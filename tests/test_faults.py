"""Fault injection: SIGKILL `metarl-gym evolve` / `baseline` at seeded random run-directory writes (before, in the
middle of, after them; tests/write_faults.py), resume, and compare with an uninterrupted run (metrics identical
except wall_s; best.pt identical)."""

import csv
import random
from pathlib import Path

import torch
import yaml

import write_faults
from metarl_gym.baselines.run import run_baseline
from metarl_gym.evolution.runner import evolve

EVOLVE = {
    "env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 200}},
    "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4]}},
    "strategy": {"name": "cma_es", "pop_size": 32, "kwargs": {"sigma0": 0.5}},
    "generations": 16, "episodes": 2, "seed": 11, "checkpoint_every": 3,
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


def test_evolve_sigkill_at_random_writes_resumes_exactly(tmp_path, monkeypatch):
    total = write_faults.count_writes(lambda: evolve(EVOLVE, tmp_path / "straight", progress=False), monkeypatch)
    expected = rows(tmp_path / "straight")
    assert len(expected) == EVOLVE["generations"] and total > 20
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(EVOLVE))
    run = tmp_path / "killed"
    write_faults.kill_and_resume(["evolve", path, "--run-dir", run, "--no-progress"], ["evolve", "--resume", run, "--no-progress"],
                                 total, random.Random(2026))
    assert rows(run) == expected
    a, b = (torch.load(d / "best.pt", weights_only=True) for d in (tmp_path / "straight", run))
    assert torch.equal(a["params"], b["params"]) and a["fitness"] == b["fitness"]


def test_baseline_sigkill_at_random_writes_then_resume_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    total = write_faults.count_writes(lambda: run_baseline(BASELINE, tmp_path / "straight"), monkeypatch)
    expected = rows(tmp_path / "straight")
    assert len(expected) > 10
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(BASELINE))
    run = tmp_path / "killed"
    write_faults.kill_and_resume(["baseline", path, "--run-dir", run, "--no-progress"], ["baseline", "--resume", run, "--no-progress"],
                                 total, random.Random(7), kills=2)
    assert rows(run) == expected
    assert (run / "model.zip").exists()
