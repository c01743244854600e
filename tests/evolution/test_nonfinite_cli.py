"""Through `metarl-gym evolve`: a NaN genome in every generation never becomes the solution, and is counted."""

import csv
import math
from pathlib import Path

import torch
import yaml

from metarl_gym.cli import main
from metarl_gym.evolution import base as strategy_base

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


def _cli(argv, capsys):
    """``metarl-gym argv`` in this process: (exit code, stdout, stderr)."""
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


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


def test_a_run_that_never_scored_finite_says_so(tmp_path, capsys):
    """The learned rule under g = 1e30 (issue 19: "metrics all NaN, num_nonfinite 0, rc 0"): every individual is
    counted non-finite, no best.pt is written, and both the summary and ``evaluate`` say why."""
    run = tmp_path / "run"
    rc, out, err = _cli(["evolve", str(CONFIGS / "learned_rule_double_pendulum.yaml"), "--run-dir", str(run),
                            "--no-progress", "generations=2", "episodes=1", "strategy.pop_size=4",
                            "strategy.kwargs.num_survivors=2", "policy.kwargs.hidden_sizes=[4]",
                            "env.kwargs.max_episode_steps=10", "env.kwargs.g=1.0e+30"], capsys)
    assert rc == 0, err
    assert "no individual scored a finite fitness in 2 generation(s)" in out and "generation -1" not in out, out
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["num_nonfinite"] for r in rows] == ["4", "4"]
    assert all(float(r["best_ever"]) == -math.inf for r in rows)
    assert not (run / "best.pt").exists()
    rc, _, err = _cli(["evaluate", str(run), "--no-progress"], capsys)
    assert rc == 2 and err.count("\n") == 1, err
    assert "no individual of its 2 generation(s) scored a finite fitness" in err and "written after" not in err, err
