"""The functional face of TorchVectorEnv: pure transition/observe over any row count, step built on them."""

import gymnasium as gym
import pytest
import torch

import metarl_gym  # noqa: F401
from metarl_gym.envs import TORCH_ENVS
from metarl_gym.envs.bullet.vector import BulletLocomotionVectorEnv

import helpers

IDS = sorted(TORCH_ENVS)
RANGES = {
    "MetaRL/Pendulum-v0": {"g": (5.0, 12.0), "l": (0.5, 1.5)},
    "MetaRL/DoublePendulum-v0": {"m2": (0.5, 2.0), "l1": (0.7, 1.3)},
    "MetaRL/CartPole-v1": {"length": (0.3, 0.8), "masspole": (0.05, 0.3)},
    "MetaRL/PendulumSwingup-v1": {"g": (8.0, 12.0), "m": (0.5, 1.5)},
    "MetaRL/SlimeVolley-v0": {},  # no physical task parameters
}


def make(env_id, n, **kwargs):
    return helpers.make_vec(env_id, n, task_ranges=RANGES[env_id], **kwargs).unwrapped


def actions_for(env, n, seed):
    g = torch.Generator().manual_seed(seed)
    space = env.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        return torch.randint(0, int(space.n), (n,), generator=g)
    if isinstance(space, gym.spaces.MultiBinary):
        return torch.randint(0, 2, (n, *space.shape), generator=g).float()
    return env.check_actions(torch.rand(n, *space.shape, generator=g) * 5 - 2.5, validate=False)


def snapshot(env):
    return env.state.clone(), {k: v.clone() for k, v in env.tasks.items()}, env.elapsed.clone(), env.needs_reset.clone()


@pytest.mark.parametrize("env_id", IDS)
def test_transition_and_observe_are_pure(env_id):
    env = make(env_id, 8)
    env.reset(seed=0)
    before = snapshot(env)
    state, tasks = env.state.clone(), {k: v.clone() for k, v in env.tasks.items()}
    actions = actions_for(env, 8, 1)
    actions_copy = actions.clone()
    out = [env.transition(state, tasks, actions) for _ in range(2)]
    obs = [env.observe(state) for _ in range(2)]
    for a, b in zip(*out):
        assert torch.equal(a, b)
    assert torch.equal(obs[0], obs[1])
    # inputs untouched, env untouched
    assert torch.equal(state, before[0]) and torch.equal(actions, actions_copy)
    assert all(torch.equal(tasks[k], before[1][k]) for k in tasks)
    after = snapshot(env)
    assert torch.equal(after[0], before[0]) and torch.equal(after[2], before[2]) and torch.equal(after[3], before[3])
    assert all(torch.equal(after[1][k], before[1][k]) for k in before[1])
    # the observation never aliases the physics state
    obs[0].add_(1.0)
    assert torch.equal(env.state, before[0])


@pytest.mark.parametrize("env_id", IDS)
def test_step_equals_transition_then_observe(env_id):
    env = make(env_id, 16, autoreset_mode="disabled")
    env.reset(seed=3)
    for t in range(30):
        state, tasks = env.state.clone(), dict(env.tasks)
        actions = actions_for(env, 16, t)
        next_state, rewards, terminations = env.transition(state, tasks, env.check_actions(actions))
        obs, r, te, tr, _ = env.step(actions)
        assert torch.equal(env.state, next_state)
        assert torch.equal(obs, env.observe(next_state))
        assert torch.equal(r, rewards.to(torch.float32)) and torch.equal(te, terminations)
        assert obs.dtype == torch.float32 and obs.shape == (16, *env.single_observation_space.shape)


@pytest.mark.parametrize("env_id", IDS)
def test_any_slice_of_rows_gives_the_full_batch_rows(env_id):
    env = make(env_id, 12)
    env.reset(seed=7)
    for _ in range(5):  # move away from the start state so rows differ
        env.step(actions_for(env, 12, 0))
    state, tasks = env.state, env.tasks
    actions = actions_for(env, 12, 9)
    full = env.transition(state, tasks, actions)
    full_obs = env.observe(state)
    for rows in (slice(0, 1), slice(3, 10), torch.tensor([11, 2, 5])):
        part = env.transition(state[rows], {k: v[rows] for k, v in tasks.items()}, actions[rows])
        for a, b in zip(part, full):
            assert a.shape[0] == b[rows].shape[0]
            torch.testing.assert_close(a, b[rows], rtol=0, atol=0)
        torch.testing.assert_close(env.observe(state[rows]), full_obs[rows], rtol=0, atol=0)


def test_functional_flag():
    for env_id in IDS:
        assert make(env_id, 2).functional is True
    assert BulletLocomotionVectorEnv.functional is False


def test_check_actions_without_validation_only_converts():
    env = make("MetaRL/Pendulum-v0", 4, dtype=torch.float64)
    out = env.check_actions(torch.full((3, 1), float("nan")), validate=False)  # any row count, no value checks
    assert out.dtype == torch.float64 and out.shape == (3, 1) and torch.isnan(out).all()
    with pytest.raises(ValueError, match="NaN"):
        env.check_actions(torch.full((4, 1), float("nan")))
    cart = make("MetaRL/CartPole-v1", 2)
    assert cart.check_actions(torch.tensor([1.0, 0.0]), validate=False).dtype == torch.int64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_step_makes_no_host_syncs_on_cuda(env_id, mode):
    env = make(env_id, 64, device="cuda", max_episode_steps=4, autoreset_mode=mode)
    env.reset(seed=0)
    env.validate_actions = False  # what a rollout engine does
    actions = actions_for(env, 64, 0).cuda()
    ended = torch.zeros(64, dtype=torch.bool, device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(10):  # several episode ends and restarts
            obs, rewards, terminations, truncations, _ = env.step(actions)
            ended = ended | truncations
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert obs.is_cuda and rewards.is_cuda and bool(ended.all())  # every row ended (and restarted) in the loop
