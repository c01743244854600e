"""Every config in examples/configs runs from the CLI as its header says (tiny overrides), and every evolve run it
leaves is evaluated by ``metarl-gym evaluate`` (issue 19: shipped configs that did not run)."""

from pathlib import Path

import pytest
import yaml

from metarl_gym.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "examples" / "configs"
SHIPPED = sorted(CONFIGS.rglob("*.yaml"))

# Configs whose full population or episodes would make a smoke run slow: their own sizes, scaled down.
SMALLER = {
    "hebbian_ant.yaml": ["strategy.pop_size=4"],
    "ga_bipedal.yaml": ["strategy.pop_size=8", "strategy.kwargs.num_survivors=2"],
    "openai_es_bipedal.yaml": ["strategy.pop_size=8"],
    "ga_carracing.yaml": ["strategy.pop_size=4", "strategy.kwargs.num_survivors=2"],
    "hebbian_carracing.yaml": ["strategy.pop_size=4"],
}


def kind(config: dict) -> str:
    """The command a config belongs to: what its header says to run."""
    if "algorithm" in config:
        return "baseline"
    if "search" in config:
        return "er-mrl"
    return "evolve"


def tiny_overrides(path: Path, config: dict) -> list[str]:
    command = kind(config)
    if command == "evolve":
        return ["generations=1", "env.kwargs.max_episode_steps=10", *SMALLER.get(path.name, [])]
    if command == "baseline":
        small = ["total_timesteps=64", "env.kwargs.max_episode_steps=16"]
        if config["algorithm"] in ("ppo", "a2c"):
            small += ["num_envs=2", "algorithm_kwargs.n_steps=16"]
            if config["algorithm"] == "ppo":
                small += ["algorithm_kwargs.batch_size=16", "algorithm_kwargs.n_epochs=1"]
        else:
            small += ["algorithm_kwargs.learning_starts=16"]
        return small
    return ["search.generations=1", "search.pop_size=3", "fitness.total_timesteps=64", "fitness.seeds=1",
            "fitness.random_episodes=1", "ppo.num_envs=1", "ppo.algorithm_kwargs.n_epochs=1", "test.seeds=1",
            "test.total_timesteps=64"]  # (PPO's n_steps stay: a score needs a finished episode in the first rollout)


def test_every_config_is_checked():
    assert len(SHIPPED) >= 15 and {p.name for p in SHIPPED} >= {"ga_cartpole.yaml", "ppo_cartpole.yaml", "hebbian_ant.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_runs_from_the_cli_and_its_run_evaluates(path, tmp_path):
    config = yaml.safe_load(path.read_text())
    if "CarRacing" in str(config.get("env", {}).get("id")) or "Bipedal" in str(config.get("env", {}).get("id")):
        pytest.importorskip("Box2D")
    if path.name.startswith("er_mrl_mujoco"):
        pytest.importorskip("mujoco")
    command = kind(config)
    run_dir = tmp_path / "run"
    assert main([command, str(path), "--run-dir", str(run_dir), "--no-progress", *tiny_overrides(path, config)]) == 0
    if command == "evolve":
        assert main(["evaluate", str(run_dir), "--episodes", "2", "--no-progress"]) == 0
