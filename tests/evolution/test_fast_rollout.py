"""The deprecated fast_rollout() name is rollout(engine="blocked") (kept until the runner switches over)."""

import gymnasium as gym
import torch

import metarl_gym  # noqa: F401
from metarl_gym.agents.mlp import MLPPolicy
from metarl_gym.evolution.fast_rollout import fast_rollout
from metarl_gym.evolution.rollout import rollout


def test_fast_rollout_is_the_blocked_engine():
    env = gym.make_vec("MetaRL/PendulumSwingup-v1", num_envs=9, vectorization_mode="vector_entry_point", max_episode_steps=30)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space)
    params = policy.random_params(9, generator=torch.Generator().manual_seed(1))
    expected = rollout(env, policy, params, seed=5, engine="loop")
    assert torch.equal(fast_rollout(env, policy, params, seed=5, block_size=4), expected)
    assert torch.equal(fast_rollout(env, policy, params, seed=5, block_size=None), expected)
