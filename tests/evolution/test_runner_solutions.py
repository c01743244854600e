"""The runner's solution files: best.pt only for a finite best; evaluate refuses a config edited after the run."""

import math

import pytest
import torch

from metarl_gym.cli import main
from metarl_gym.errors import UserError
from metarl_gym.evolution.evaluate import load_solution
from metarl_gym.evolution.runner import evolve

CONFIG = {
    "env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 50}},
    "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4], "activation": "tanh"}},
    "strategy": {"name": "ga", "pop_size": 8, "kwargs": {"num_survivors": 2}},
    "generations": 2,
    "seed": 0,
}


def test_evaluate_refuses_a_config_edited_after_the_run(tmp_path, capsys):
    evolve(CONFIG, tmp_path / "run", progress=False)
    config, params = load_solution(tmp_path / "run")
    assert params.ndim == 1 and torch.isfinite(params).all()
    path = tmp_path / "run" / "config.yaml"
    path.write_text(path.read_text().replace("activation: tanh", "activation: relu"))
    with pytest.raises(UserError, match="changed after the run"):
        load_solution(tmp_path / "run")
    assert main(["evaluate", str(tmp_path / "run"), "--episodes", "2"]) == 2
    assert "changed after the run" in capsys.readouterr().err


def test_no_best_pt_while_nothing_scored_finite(tmp_path):
    """Issue 19: a Hebbian / ES run whose individuals never scored finite wrote best.pt with fitness -inf."""
    config = {**CONFIG, "env": {"id": "MetaRL/DoublePendulum-v0", "kwargs": {"g": 1.0e30, "max_episode_steps": 20}},
              "strategy": {"name": "openai_es", "pop_size": 8}}
    summary = evolve(config, tmp_path / "run", progress=False)
    assert not math.isfinite(summary["best_fitness"])
    assert not (tmp_path / "run" / "best.pt").exists()
