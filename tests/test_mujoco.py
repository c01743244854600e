"""MuJoCo (Swimmer-v5) through the generic path: rollout against a per-individual gym.make loop, and
`metarl-gym evolve` for two tiny generations (the mujoco extra; seconds)."""

import pytest
import yaml

pytest.importorskip("mujoco", reason="needs the mujoco extra: pip install -e .[mujoco]")
pytest.importorskip("Box2D", reason="the shared helpers live in test_box2d.py, which needs the box2d extra")

from test_box2d import check_mlp_rollout, run_evolve  # noqa: E402


def test_swimmer_mlp_rollout_equals_per_individual_loop():
    check_mlp_rollout("Swimmer-v5")


def test_evolve_swimmer_runs_two_tiny_generations(tmp_path):
    path = tmp_path / "swimmer.yaml"
    path.write_text(yaml.safe_dump({
        "env": {"id": "Swimmer-v5", "kwargs": {"max_episode_steps": 30}},
        "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [8]}},
        "strategy": {"name": "openai_es", "pop_size": 4, "kwargs": {}},
        "generations": 2,
    }))
    run_evolve(path, tmp_path, [])
