"""Every shipped evolve config resolves, builds its env / policy / strategy and runs one tiny generation."""

from pathlib import Path

import pytest
import yaml

from metarl_gym.config import apply_overrides
from metarl_gym.evolution.runner import evolve

CONFIGS = sorted((Path(__file__).parent.parent / "examples" / "configs").glob("*.yaml"))
EVOLVE_CONFIGS = [p for p in CONFIGS if "strategy" in yaml.safe_load(p.read_text())]


def test_there_are_evolve_examples():
    names = {p.name for p in EVOLVE_CONFIGS}
    assert {"ga_cartpole.yaml", "openai_es_pendulum.yaml", "cma_es_pendulum.yaml"} <= names


@pytest.mark.parametrize("path", EVOLVE_CONFIGS, ids=lambda p: p.name)
def test_evolve_config_runs_one_tiny_generation(path, tmp_path):
    config = yaml.safe_load(path.read_text())
    config = apply_overrides(config, ["generations=1", "strategy.pop_size=4", "episodes=1", "env.kwargs.max_episode_steps=5"])
    kwargs = config["strategy"].get("kwargs") or {}
    if "num_survivors" in kwargs:  # keep the GA's survivors within the tiny population
        kwargs["num_survivors"] = 2
    summary = evolve(config, tmp_path / "run", progress=False)
    assert summary["generations"] == 1
    assert (tmp_path / "run" / "best.pt").exists() or summary["best_generation"] == -1
