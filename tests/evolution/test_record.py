"""record_episodes: the (observation, action) rows of the episodes rollout plays, keyed the same way."""

import pytest
import torch

import metarl_gym  # noqa: F401
from metarl_gym.agents import HebbianPolicy, MLPPolicy
from metarl_gym.envs import make
from metarl_gym.evolution import rollout
from metarl_gym.evolution.record import record_episodes


@pytest.mark.parametrize("cls", [MLPPolicy, HebbianPolicy])
def test_recorded_returns_equal_rollout_and_rows_replay_the_actions(cls):
    env = make("MetaRL/CartPole-v1", 3, max_episode_steps=40)
    policy = cls(env.single_observation_space, env.single_action_space)
    params = torch.randn(3, policy.num_params, generator=torch.Generator().manual_seed(0))
    rec = record_episodes(env, policy, params, seed=7)
    fitness = rollout(make("MetaRL/CartPole-v1", 3, max_episode_steps=40), policy, params, seed=7, engine="loop")
    assert torch.equal(rec.returns.float(), fitness)
    # CartPole pays 1 per step: one recorded row per step each env row lived
    assert rec.observations.shape == (int(rec.returns.sum()), 4) and rec.actions.shape == (int(rec.returns.sum()),)
    if cls is MLPPolicy:  # a static policy: every recorded action is the policy's action on the recorded observation
        # rows are step-major; replay them with each row's genome (row r of step 0 is env row r)
        first = rec.observations[:3]
        actions, _ = policy.act(params, first, policy.initial_state(params))
        assert torch.equal(actions, rec.actions[:3])


def test_other_seed_other_episodes_and_wrong_shape_refused():
    env = make("MetaRL/CartPole-v1", 2)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space)
    params = torch.randn(2, policy.num_params, generator=torch.Generator().manual_seed(1))
    a = record_episodes(env, policy, params, seed=1)
    b = record_episodes(env, policy, params, seed=2)
    assert not torch.equal(a.observations[:2], b.observations[:2])
    assert torch.equal(a.observations, record_episodes(env, policy, params, seed=1).observations)
    with pytest.raises(ValueError, match="num_envs=2"):
        record_episodes(env, policy, params[:1], seed=1)
