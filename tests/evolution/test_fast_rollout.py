"""fast_rollout() gives rollout()'s fitness, block by block (eager: bit for bit; compiled: to float32 round-off)."""

import gymnasium as gym
import pytest
import torch

import metarl_gym  # noqa: F401
from metarl_gym.agents.hebbian import HebbianPolicy
from metarl_gym.agents.learned_rule import LearnedRulePolicy
from metarl_gym.agents.mlp import MLPPolicy
from metarl_gym.evolution.fast_rollout import fast_rollout
from metarl_gym.evolution.rollout import rollout


def _setup(env_id, pop, **policy_kwargs):
    env = gym.make_vec(env_id, num_envs=pop, vectorization_mode="vector_entry_point")
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, **policy_kwargs)
    params = policy.random_params(pop, generator=torch.Generator().manual_seed(1))
    return env, policy, params


@pytest.mark.parametrize("env_id", ["MetaRL/PendulumSwingup-v1", "MetaRL/CartPole-v1"])
@pytest.mark.parametrize("block_size", [None, 7, 16])
def test_eager_equals_rollout(env_id, block_size):
    env, policy, params = _setup(env_id, 37)
    expected = rollout(env, policy, params, seed=5)
    got = fast_rollout(env, policy, params, seed=5, block_size=block_size)
    assert torch.equal(got, expected)


def test_tasks_and_bias_free_policy():
    env, policy, params = _setup("MetaRL/PendulumSwingup-v1", 12, bias=False)
    tasks = {"g": torch.linspace(8.0, 12.0, 12)}
    expected = rollout(env, policy, params, seed=2, tasks=tasks)
    assert torch.equal(fast_rollout(env, policy, params, seed=2, tasks=tasks, block_size=5), expected)


def test_compiled_matches_rollout():
    env, policy, params = _setup("MetaRL/PendulumSwingup-v1", 24)
    expected = rollout(env, policy, params, seed=3)
    got, stats = fast_rollout(env, policy, params, seed=3, block_size=16, compile=True, steps_per_call=10, return_stats=True)
    # the compiled MLP sums in another order: float32 round-off, amplified by the pendulum over 200 steps
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-2)
    assert stats["env_steps"] == 24 * 200


def test_rejects_what_it_cannot_do():
    env, policy, params = _setup("MetaRL/PendulumSwingup-v1", 8)
    with pytest.raises(ValueError, match="must equal pop"):
        fast_rollout(env, policy, params[:4])
    with pytest.raises(ValueError, match="unwrapped TorchVectorEnv"):
        fast_rollout(gym.make_vec("MetaRL/PendulumSwingup-v1", num_envs=8, vectorization_mode="sync"), policy, params)


def _plastic(policy_cls, pop, horizon, **policy_kwargs):
    env = gym.make_vec("MetaRL/PendulumSwingup-v1", num_envs=pop, vectorization_mode="vector_entry_point", max_episode_steps=horizon)
    policy = policy_cls(env.single_observation_space, env.single_action_space, **policy_kwargs)
    return env, policy


@pytest.mark.parametrize("block_size", [None, 5, 8])
def test_plastic_eager_equals_rollout(block_size):
    """Lifetime state drawn as rollout() draws it, sliced into blocks, learning every step: identical fitness."""
    env, policy = _plastic(HebbianPolicy, 13, 60, hidden_sizes=(8, 8), rule="ABCD_lr")
    params = 0.3 * policy.random_params(13, generator=torch.Generator().manual_seed(4))
    expected = rollout(env, policy, params, seed=9)
    assert torch.equal(fast_rollout(env, policy, params, seed=9, block_size=block_size), expected)
    frozen = HebbianPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(8, 8), plasticity=False)
    assert not torch.equal(fast_rollout(env, frozen, params, seed=9, block_size=block_size), expected)  # it does learn


def test_learned_rule_eager_equals_rollout():
    """The learned rule's noisy neurons draw from the lifetime generator: one block draws exactly as rollout()."""
    env, policy = _plastic(LearnedRulePolicy, 6, 30, hidden_sizes=(4,), sigma_init=0.2)
    params = policy.random_params(6, generator=torch.Generator().manual_seed(2))
    expected = rollout(env, policy, params, seed=1)
    assert torch.equal(fast_rollout(env, policy, params, seed=1, block_size=None), expected)
    blocked = fast_rollout(env, policy, params, seed=1, block_size=4)  # other noise samples, same distribution
    assert torch.isfinite(blocked).all() and not torch.equal(blocked, expected)


def test_hebbian_compiled_matches_rollout():
    env, policy = _plastic(HebbianPolicy, 16, 24, hidden_sizes=(8, 8), rule="ABCD_lr")
    params = 0.3 * policy.random_params(16, generator=torch.Generator().manual_seed(6))
    expected = rollout(env, policy, params, seed=2)
    got, stats = fast_rollout(env, policy, params, seed=2, block_size=8, compile=True, steps_per_call=4, return_stats=True)
    assert stats["compiled"]
    # the compiled forward sums in another order and uses an exp-based tanh: float32 round-off only
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-3)
