"""One individual, one answer: an individual's fitness depends on its genome and its key only.

Regression tests for issue 18: before keyed randomness, rows 0-3 of a Hebbian CartPole evaluation scored
25.0 / 12.0 / 14.7 / 19.3 or 29.7 / 14.7 / 13.7 / 22.0 depending on the genomes of rows 4-7 (the env's one
generator was consumed by whichever rows reset when).
"""

import pytest
import torch

from metarl_gym import keys as rk
from metarl_gym.agents.hebbian import HebbianPolicy
from metarl_gym.agents.learned_rule import LearnedRulePolicy
from metarl_gym.agents.mlp import MLPPolicy
from metarl_gym.envs import make
from metarl_gym.evolution import rollout


def _params(policy, pop, seed, scale=1.0):
    return policy.random_params(pop, generator=torch.Generator().manual_seed(seed)) * scale


def _with_new_neighbours(params, keep, seed):
    """``params`` with every row from ``keep`` on replaced by fresh genomes."""
    other = params.clone()
    other[keep:] = torch.randn(params.shape[0] - keep, params.shape[1], generator=torch.Generator().manual_seed(seed), dtype=params.dtype)
    return other


def _policy(kind, env):
    obs, act = env.single_observation_space, env.single_action_space
    if kind == "mlp":
        return MLPPolicy(obs, act, hidden_sizes=(8,)), 1.0
    if kind == "hebbian":
        return HebbianPolicy(obs, act, hidden_sizes=(8,), rule="ABCD_lr", compile=False), 0.1
    return LearnedRulePolicy(obs, act, hidden_sizes=(4,), sigma_init=0.3), 0.3


@pytest.mark.parametrize("kind", ["mlp", "hebbian", "learned_rule"])
@pytest.mark.parametrize("engine", ["loop", "blocked"])
def test_fitness_of_rows_does_not_depend_on_neighbours(kind, engine):
    pop, keep = 8, 4
    env = make("MetaRL/CartPole-v1", pop)
    policy, scale = _policy(kind, env)
    params = _params(policy, pop, 0, scale)
    episodes = 3 if engine == "loop" else 1  # multi-episode lifetimes: the loop engine restarts rows mid-run
    before = rollout(env, policy, params, num_episodes=episodes, seed=7, engine=engine)
    after = rollout(env, policy, _with_new_neighbours(params, keep, 1), num_episodes=episodes, seed=7, engine=engine)
    assert torch.equal(before[:keep], after[:keep])
    if kind != "learned_rule":  # (random learned rules often balance equally briefly)
        assert not torch.equal(before[keep:], after[keep:])  # the neighbours' own fitness did change


def test_multi_episode_lifetimes_with_side_by_side_copies():
    """Static policies play episodes side by side (copies): each copy's starts come from its own row key."""
    pop, episodes = 6, 4
    env = make("MetaRL/CartPole-v1", pop * episodes)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(8,))
    params = _params(policy, pop, 0)
    before = rollout(env, policy, params, num_episodes=episodes, seed=3)
    after = rollout(env, policy, _with_new_neighbours(params, 2, 5), num_episodes=episodes, seed=3)
    assert torch.equal(before[:2], after[:2])


def test_task_draws_are_keyed_per_lifetime():
    pop = 6
    env = make("MetaRL/Pendulum-v0", pop, task_ranges={"g": (8.0, 12.0)}, max_episode_steps=40)
    policy = HebbianPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(4,), compile=False)
    params = _params(policy, pop, 0, 0.1)
    before = rollout(env, policy, params, num_episodes=2, seed=11, engine="loop")
    after = rollout(env, policy, _with_new_neighbours(params, 3, 2), num_episodes=2, seed=11, engine="loop")
    assert torch.equal(before[:3], after[:3])


def test_an_individual_scores_the_same_alone_and_in_a_population():
    """Individual j evaluated alone with its own key equals row j of the population evaluation."""
    pop = 5
    env = make("MetaRL/CartPole-v1", pop)
    policy = HebbianPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(8,), compile=False)
    params = _params(policy, pop, 4, 0.1)
    together = rollout(env, policy, params, num_episodes=2, seed=9, engine="loop")
    individual_keys = rk.key(9, torch.arange(pop))
    single = make("MetaRL/CartPole-v1", 1)
    for j in range(pop):
        alone = rollout(single, policy, params[j : j + 1], num_episodes=2, seed=individual_keys[j : j + 1], engine="loop")
        assert torch.equal(alone[0], together[j])


@pytest.mark.parametrize("block_size", [1, 3, 5, 8])
def test_blocked_engine_equals_loop_for_any_block_size(block_size):
    pop = 8
    env = make("MetaRL/PendulumSwingup-v1", pop, max_episode_steps=30)
    policy = HebbianPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(8,), compile=False)
    params = _params(policy, pop, 1, 0.1)
    expected = rollout(env, policy, params, seed=2, engine="loop")
    assert torch.equal(rollout(env, policy, params, seed=2, engine="blocked", block_size=block_size), expected)


def test_pixel_policy_on_carracing_does_not_depend_on_neighbours():
    pytest.importorskip("Box2D")
    from metarl_gym.agents.pixel_hebbian import PixelHebbianPolicy

    pop, keep = 3, 1
    env = make("CarRacing-v3", pop, max_episode_steps=4)
    policy = PixelHebbianPolicy(env.single_observation_space, env.single_action_space)
    params = _params(policy, pop, 0, 0.1)
    before = rollout(env, policy, params, seed=5)
    after = rollout(env, policy, _with_new_neighbours(params, keep, 3), seed=5)
    assert torch.equal(before[:keep], after[:keep])
