"""Reservoir observation wrappers: autoreset handling against a per-row numpy loop, skip connection, several
reservoirs, the single-env variant (Gymnasium's checker), validation."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import metarl_gym  # noqa: F401
from metarl_gym.envs.reservoir import MultiReservoirEncoder, ReservoirEncoder, ReservoirObservation
from helpers import esn_row_matrices as row_matrices, esn_update


def make_cartpole(n, **kwargs):
    return gym.make_vec("MetaRL/CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point", **kwargs)


def env_obs(base):
    """The unwrapped env's current observation [N, obs_dim] as float64 numpy."""
    obs = base.observe(base.state) if hasattr(base, "observe") else base._observe()
    return obs.double().numpy()


def test_encoder_follows_episodes_like_a_per_row_loop():
    """NEXT_STEP autoreset: a restarted row starts from zero state with zero action and reward inputs."""
    n = 6
    base = make_cartpole(n, max_episode_steps=15)
    enc = ReservoirEncoder(base, units=25, spectral_radius=torch.linspace(0.5, 1.5, n), leak_rate=0.4, input_scaling=0.8, seed=2)
    assert enc.single_observation_space.shape == (25,)
    esn = enc.reservoir
    out, _ = enc.reset(seed=1)
    ref = np.zeros((n, 25))

    def reference_step(obs, actions, rewards, restart):
        for i in range(n):
            if restart[i]:
                ref[i] = 0.0
                u = np.concatenate([obs[i], [0.0, 0.0], [0.0]])
            else:
                u = np.concatenate([obs[i], np.eye(2)[actions[i]], [rewards[i]]])
            ref[i] = esn_update(ref[i], u, *row_matrices(esn, i))

    reference_step(env_obs(base), None, None, np.ones(n, bool))
    np.testing.assert_allclose(out.double().numpy(), ref, atol=1e-5)
    rng = np.random.default_rng(0)
    restart = np.zeros(n, bool)
    episodes_ended = 0
    for _ in range(80):
        actions = rng.integers(0, 2, n)
        out, rewards, term, trunc, _ = enc.step(torch.as_tensor(actions))
        reference_step(env_obs(base), actions, rewards.double().numpy(), restart)
        np.testing.assert_allclose(out.double().numpy(), ref, atol=1e-5)
        restart = (term | trunc).numpy()
        episodes_ended += int(restart.sum())
    assert episodes_ended > n  # several episodes per row, terminations and truncations

    # a partial reset restarts only the masked rows
    mask = torch.tensor([True, False, True, False, False, False])
    before = enc.reservoir.state.clone()
    out, _ = enc.reset(options={"reset_mask": mask})
    obs = env_obs(base)
    for i in np.flatnonzero(mask.numpy()):
        expected = esn_update(np.zeros(25), np.concatenate([obs[i], [0, 0, 0]]), *row_matrices(esn, i))
        np.testing.assert_allclose(out[i].double().numpy(), expected, atol=1e-5)
    assert torch.equal(out[~mask], before[~mask])


def test_skip_connection_multi_reservoir_and_switches():
    base = gym.make_vec("MetaRL/PendulumSwingup-v1", num_envs=3, vectorization_mode="vector_entry_point")
    enc = MultiReservoirEncoder(
        base,
        [dict(units=10, spectral_radius=0.9, leak_rate=0.5), dict(units=15, spectral_radius=1.1, leak_rate=0.2)],
        use_action=False,
        use_reward=False,
        skip_connection=True,
        seed=4,
    )
    assert enc.single_observation_space.shape == (28,)
    assert enc.reservoirs[0].input_dim == 3  # observation only
    assert enc.reservoirs[0].seed == 4 and enc.reservoirs[1].seed == 5
    obs, _ = enc.reset(seed=0)
    assert obs.shape == (3, 28)
    np.testing.assert_allclose(obs[:, 25:].double().numpy(), env_obs(base))
    obs, *_ = enc.step(torch.zeros(3, 1))
    assert enc.observation_space.contains(obs.numpy())


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version")
def test_single_env_variant_passes_gymnasium_checker():
    env = ReservoirObservation(gym.make("CartPole-v1"), units=20, spectral_radius=0.9, leak_rate=0.5, seed=0)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (20,) and obs.dtype == np.float32
    multi = ReservoirObservation(gym.make("MetaRL/PendulumSwingup-v1"), reservoirs=[dict(units=5), dict(units=7)], seed=0)
    assert multi.observation_space.shape == (12,)
    multi.reset(seed=0)
    obs, *_ = multi.step(np.array([0.5], dtype=np.float32))
    assert obs.shape == (12,)


def test_single_env_matches_vector_encoder():
    vec = ReservoirEncoder(make_cartpole(1), units=12, spectral_radius=0.8, leak_rate=0.6, seed=9)
    single = ReservoirObservation(gym.make("MetaRL/CartPole-v1"), units=12, spectral_radius=0.8, leak_rate=0.6, seed=9)
    a, _ = vec.reset(seed=5)
    b, _ = single.reset(seed=5)
    np.testing.assert_allclose(a[0].numpy(), b, atol=1e-6)
    for action in [0, 1, 1, 0, 1]:
        a, *_ = vec.step(torch.tensor([action]))
        b, *_ = single.step(action)
        np.testing.assert_allclose(a[0].numpy(), b, atol=1e-6)


def test_multi_reservoir_needs_a_list_of_dicts():
    with pytest.raises(ValueError, match="non-empty list of dicts"):
        MultiReservoirEncoder(make_cartpole(2), {"units": 5})
    with pytest.raises(ValueError, match="unknown keys"):
        MultiReservoirEncoder(make_cartpole(2), [{"sr": 1.0}])


def test_wrong_env_kinds():
    with pytest.raises(TypeError, match="ReservoirObservation"):
        ReservoirEncoder(gym.make("CartPole-v1"))
    with pytest.raises(TypeError, match="ReservoirEncoder"):
        ReservoirObservation(make_cartpole(2))
    with pytest.raises(ValueError, match="NEXT_STEP or DISABLED"):
        ReservoirEncoder(make_cartpole(2, autoreset_mode="same_step"))
