"""Non-finite genomes never get a finite fitness: params, raw network outputs and plastic weights are checked.

An all-NaN row used to score -626 on PendulumSwingup (every real row <= -1180) because bound_actions turned NaN
outputs into action 0; GA then picked it. Every policy and both engines are checked here.
"""

import math

import gymnasium as gym
import pytest
import torch

import metarl_gym  # noqa: F401
from metarl_gym.agents.hebbian import RULES, HebbianPolicy
from metarl_gym.agents.learned_rule import LearnedRulePolicy
from metarl_gym.agents.mlp import MLPPolicy
from metarl_gym.evolution.rollout import rollout


def _env(env_id, n, horizon=50):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", max_episode_steps=horizon)


def _check(env, policy, params, bad_rows, **kwargs):
    for engine in ("loop", "blocked"):
        fitness, stats = rollout(env, policy, params, seed=0, engine=engine, return_stats=True, **kwargs)
        bad = torch.zeros(params.shape[0], dtype=torch.bool)
        bad[bad_rows] = True
        assert (fitness[bad] == -math.inf).all(), (engine, fitness)
        assert torch.isfinite(fitness[~bad]).all(), (engine, fitness)
        assert stats["num_nonfinite"] == len(bad_rows), (engine, stats)


@pytest.mark.parametrize("env_id", ["MetaRL/PendulumSwingup-v1", "MetaRL/CartPole-v1"])
def test_mlp_nan_inf_and_overflowing_genomes(env_id):
    env = _env(env_id, 5)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(8, 8))
    params = policy.random_params(5, generator=torch.Generator().manual_seed(0))
    params[1] = float("nan")  # the reported case: an all-NaN row
    params[2, 3] = float("inf")  # one inf weight
    params[3] = 1e38  # finite weights whose outputs overflow to inf (tanh would hide it as a valid action)
    _check(env, policy, params, [1, 2, 3])


def test_mlp_nan_row_never_wins_on_pendulum_swingup():
    env = _env("MetaRL/PendulumSwingup-v1", 4, horizon=200)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space)
    params = policy.random_params(4, generator=torch.Generator().manual_seed(0))
    params[0] = float("nan")
    fitness = rollout(env, policy, params, seed=0)
    assert int(fitness.argmax()) != 0 and fitness[0] == -math.inf


@pytest.mark.parametrize("rule", list(RULES))
def test_hebbian_every_rule(rule):
    """A NaN coefficient, an inf coefficient, and a finite genome whose unclipped weights overflow."""
    env = _env("MetaRL/PendulumSwingup-v1", 4, horizon=60)
    policy = HebbianPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(8, 8), rule=rule,
                           weight_clip=None)
    params = 0.05 * policy.random_params(4, generator=torch.Generator().manual_seed(0))
    params[1, 0] = float("nan")
    params[2, -1] = float("inf")
    params[3] = 1e30  # diverges: weights overflow, then the outputs
    _check(env, policy, params, [1, 2, 3])


def test_hebbian_coevolved_initial_weights_and_discrete_actions():
    env = _env("MetaRL/CartPole-v1", 3)
    policy = HebbianPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(8,), init_weights="coevolve")
    params = 0.05 * policy.random_params(3, generator=torch.Generator().manual_seed(0))
    params[2, -1] = float("nan")  # a co-evolved initial weight
    _check(env, policy, params, [2])


def test_learned_rule():
    env = _env("MetaRL/PendulumSwingup-v1", 4, horizon=30)
    policy = LearnedRulePolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(4,))
    params = policy.random_params(4, generator=torch.Generator().manual_seed(0))
    params[0, 7] = float("nan")
    params[2] = float("-inf")
    params[3] *= 1e30  # huge but finite rules saturate (tanh nets, clamped weights): a valid, finite score
    _check(env, policy, params, [0, 2], block_size=4)


def test_nonfinite_plastic_state_at_the_end_is_caught(monkeypatch):
    """A policy whose outputs stay finite while its plastic state does not (reported by state_is_finite)."""
    env = _env("MetaRL/PendulumSwingup-v1", 3, horizon=5)
    policy = HebbianPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(4,))
    params = 0.05 * policy.random_params(3, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(HebbianPolicy, "state_is_finite", lambda self, state: torch.tensor([True, False, True]))
    _check(env, policy, params, [1])


def test_nonfinite_returns_fail_the_individual_whatever_the_policy():
    """Issue 19: g=1e30 blows the physics up; the learned rule repairs NaN observations (finite actions), so
    its fitness was NaN and num_nonfinite 0. Non-finite episode returns now score -inf and are counted."""
    from metarl_gym.agents.learned_rule import LearnedRulePolicy
    from metarl_gym.envs import make

    env = make("MetaRL/DoublePendulum-v0", 4, g=1.0e30, max_episode_steps=20)
    policy = LearnedRulePolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(4,))
    params = policy.random_params(4, generator=torch.Generator().manual_seed(0))
    fitness, stats = rollout(env, policy, params, num_episodes=2, seed=0, engine="loop", return_stats=True)
    assert torch.equal(fitness, torch.full((4,), -math.inf)) and stats["num_nonfinite"] == 4
