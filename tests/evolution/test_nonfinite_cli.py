"""Through `metarl-gym evolve`: a NaN genome in every generation never becomes the solution, and is counted."""

import csv
import math

import torch
import yaml

from metarl_gym.cli import main
from metarl_gym.evolution import base as strategy_base


def test_evolve_with_a_nan_genome_each_generation(tmp_path, monkeypatch):
    """The issue's case: an all-NaN row among real PendulumSwingup rows used to score -626 (real rows <= -1180),
    win, and land in best.pt. Here the strategy's ask() puts an all-NaN row first in every generation."""
    original = strategy_base.Strategy.ask

    def ask_with_nan(self):
        params = original(self).clone()
        params[0] = float("nan")
        return params

    monkeypatch.setattr(strategy_base.Strategy, "ask", ask_with_nan)
    config = {
        "env": {"id": "MetaRL/PendulumSwingup-v1", "kwargs": {"max_episode_steps": 50}},
        "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4]}},
        "strategy": {"name": "ga", "pop_size": 8, "kwargs": {"num_survivors": 3}},
        "generations": 3,
        "episodes": 1,
        "seed": 0,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    assert main(["evolve", str(path), "--run-dir", str(run), "--no-progress"]) == 0

    best = torch.load(run / "best.pt", weights_only=True)
    assert torch.isfinite(torch.as_tensor(best["params"])).all()
    assert math.isfinite(float(best["fitness"]))
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert [int(float(r["num_nonfinite"])) for r in rows] == [1, 1, 1]
    assert all(math.isfinite(float(r["best"])) for r in rows)
