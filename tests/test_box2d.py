"""Box2D (CarRacing-v3, BipedalWalker-v3) through the generic path: Gymnasium ids built by
metarl_gym.envs.make (sync vector env + NumpyToTorch), evaluated by rollout (checked against a per-individual gym.make loop),
and `metarl-gym evolve` for a couple of generations. Tiny populations and episodes: seconds each."""

from pathlib import Path

import gymnasium as gym
import pytest
import torch
import yaml

pytest.importorskip("Box2D", reason="needs the box2d extra: pip install -e .[box2d]")

from metarl_gym.agents.cnn import CNNPolicy  # noqa: E402
from metarl_gym.agents.mlp import MLPPolicy  # noqa: E402
from metarl_gym.agents.pixel_hebbian import PixelHebbianPolicy  # noqa: E402
from metarl_gym.envs import make  # noqa: E402
from metarl_gym.evolution import EarlyStop, rollout  # noqa: E402
from metarl_gym.keys import row_keys  # noqa: E402

ROOT = Path(__file__).parent.parent


def reference_fitness(env_id, policy, params, *, seed, steps, early_stop=None):
    """Each individual alone in its own gym.make env, reset with its row's seed and keyed as rollout keys row i
    of an evaluation seeded ``seed`` (metarl_gym.keys.row_keys; Gymnasium's vector env seeds row i's env with it)."""
    keys = row_keys(seed, params.shape[0])
    out = []
    for i in range(params.shape[0]):
        env = gym.make(env_id, max_episode_steps=steps)
        obs, _ = env.reset(seed=int(keys[i]) & (2**63 - 1))
        p = params[i : i + 1]
        state = policy.initial_state(p, keys[i : i + 1])
        total, negative = 0.0, 0
        while True:
            action, state = policy.act(p, torch.as_tensor(obs).unsqueeze(0), state)
            obs, reward, terminated, truncated, _ = env.step(action[0].numpy())
            state = policy.learn(p, state, torch.tensor([reward], dtype=torch.float32))
            total += float(reward)
            if early_stop is not None:
                negative = negative + 1 if reward < 0 else 0
            if terminated or truncated or (early_stop is not None and negative > early_stop.patience):
                break
        env.close()
        out.append(total)
    return torch.tensor(out)


def test_carracing_cnn_rollout_with_early_stop_equals_per_individual_loop():
    env = make("CarRacing-v3", 3, max_episode_steps=30)
    assert env.single_observation_space.shape == (96, 96, 3)
    policy = CNNPolicy(env.single_observation_space, env.single_action_space, preset="ga_carracing")
    params = policy.random_params(3, generator=torch.Generator().manual_seed(0))
    params[0] = 0.0
    b = policy.layout.offsets["fc2_b"]
    params[0, b + 1], params[0, b + 2] = -20.0, 20.0  # no gas, full brake: the car stays put, earns -0.1 a step
    stop = EarlyStop(patience=20)
    fitness, stats = rollout(env, policy, params, seed=3, early_stop=stop, return_stats=True)
    env.close()
    ref = reference_fitness("CarRacing-v3", policy, params, seed=3, steps=30, early_stop=stop)
    torch.testing.assert_close(fitness, ref.float(), atol=1e-3, rtol=1e-4)
    assert torch.isfinite(fitness).all() and stats["episodes"] == 3
    assert stats["env_steps"] < 3 * 30  # at least one car was stopped early


def test_carracing_pixel_hebbian_rollout_equals_per_individual_loop():
    env = make("CarRacing-v3", 2, max_episode_steps=25)
    policy = PixelHebbianPolicy(env.single_observation_space, env.single_action_space, init_weights="coevolve")
    params = policy.random_params(2, generator=torch.Generator().manual_seed(1))
    fitness = rollout(env, policy, params, seed=5)
    env.close()
    ref = reference_fitness("CarRacing-v3", policy, params, seed=5, steps=25)
    torch.testing.assert_close(fitness, ref.float(), atol=1e-3, rtol=1e-4)


def test_bipedal_mlp_rollout_equals_per_individual_loop():
    check_mlp_rollout("BipedalWalker-v3")


def check_mlp_rollout(env_id):
    """rollout of a 4-individual MLP population == each individual alone (shared with test_mujoco.py)."""
    env = make(env_id, 4, max_episode_steps=60)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[8], output="tanh")
    params = policy.random_params(4, generator=torch.Generator().manual_seed(2)) * 3
    fitness, stats = rollout(env, policy, params, seed=11, return_stats=True)
    env.close()
    ref = reference_fitness(env_id, policy, params, seed=11, steps=60)
    torch.testing.assert_close(fitness, ref.float(), atol=1e-4, rtol=1e-5)
    assert stats["engine"] == "loop" and stats["episodes"] == 4


def test_bipedal_early_stop_cuts_stalled_walkers():
    env = make("BipedalWalker-v3", 2, max_episode_steps=200)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[4])
    params = torch.zeros(2, policy.num_params)  # zero torques: the walker stands and pays nothing, or falls
    _, full = rollout(env, policy, params, seed=0, return_stats=True)
    _, cut = rollout(env, policy, params, seed=0, early_stop={"patience": 5}, return_stats=True)
    env.close()
    assert full["env_steps"] > 2 * 6 and cut["env_steps"] == 2 * 6  # stopped after 6 negative rewards in a row


# ---------------------------------------------------------------------- metarl-gym evolve
def run_evolve(path, tmp_path, overrides):
    from metarl_gym.cli import main

    run = tmp_path / "run"
    code = main(["evolve", str(path), "--run-dir", str(run), "--no-progress", *overrides])
    assert code in (0, None)
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2  # header + two generations
    return run


@pytest.mark.parametrize("name", ["ga_carracing.yaml", "hebbian_carracing.yaml"])
def test_evolve_carracing_configs_run_two_tiny_generations(name, tmp_path):
    path = ROOT / "examples" / "configs" / "pixels" / name
    config = yaml.safe_load(path.read_text())
    assert config["env"]["id"] == "CarRacing-v3" and config["rollout"]["early_stop"]["patience"] == 20
    overrides = ["generations=2", "strategy.pop_size=4", "env.kwargs.max_episode_steps=12"]
    if config["strategy"]["name"] == "ga":
        overrides.append("strategy.kwargs.num_survivors=2")
    run_evolve(path, tmp_path, overrides)


def test_evolve_ga_bipedal_config_runs_two_tiny_generations(tmp_path):
    path = ROOT / "examples" / "configs" / "ga_bipedal.yaml"
    run_evolve(path, tmp_path, ["generations=2", "strategy.pop_size=6", "strategy.kwargs.num_survivors=2", "env.kwargs.max_episode_steps=30"])

