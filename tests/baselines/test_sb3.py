"""SB3 adapter: exact agreement with DummyVecEnv over Gymnasium's CartPole, VecEnv API, smoke tests, run_baseline."""

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

import metarl_gym  # noqa: F401
from metarl_gym.envs.reservoir import ReservoirEncoder
from metarl_gym.baselines.run import METRICS_COLUMNS, resolve_baseline_config, run_baseline
from metarl_gym.baselines.sb3 import SB3VecEnv
from metarl_gym.envs.wrappers import MaskVelocity, RecordEpisodeStatistics
from helpers import make_vec


@pytest.mark.parametrize("autoreset_mode", ["next_step", "same_step"])
def test_adapter_equals_dummy_vec_env_over_gymnasium_cartpole(autoreset_mode):
    n, horizon = 4, 25  # a short time limit so that truncations happen alongside terminations
    ours = SB3VecEnv(make_vec("MetaRL/CartPole-v1", n, dtype=torch.float64, max_episode_steps=horizon, autoreset_mode=autoreset_mode))
    theirs = DummyVecEnv([lambda: gym.make("CartPole-v1", max_episode_steps=horizon) for _ in range(n)])
    rng = np.random.default_rng(0)

    def start_states(k):
        return rng.uniform(-0.05, 0.05, size=(k, 4))

    states = start_states(n)
    ours.set_options({"state": states})
    obs_ours = ours.reset()
    theirs.reset()
    for i in range(n):
        theirs.envs[i].unwrapped.state = states[i].copy()
    np.testing.assert_array_equal(obs_ours, states.astype(np.float32))

    terminations = truncations = 0
    for _ in range(300):
        actions = rng.integers(0, 2, n)
        o1, r1, d1, i1 = ours.step(actions)
        o2, r2, d2, i2 = theirs.step(actions)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        assert r1.dtype == np.float32 and d1.dtype == bool and o1.dtype == np.float32
        for i in np.flatnonzero(d1):
            np.testing.assert_array_equal(i1[i]["terminal_observation"], i2[i]["terminal_observation"])
            assert i1[i]["TimeLimit.truncated"] == i2[i]["TimeLimit.truncated"]
            truncations += i1[i]["TimeLimit.truncated"]
            terminations += not i1[i]["TimeLimit.truncated"]
        for i in np.flatnonzero(~d1):
            assert "terminal_observation" not in i1[i] and i1[i]["TimeLimit.truncated"] is False
        if d1.any():  # restart both from the same states
            new = start_states(n)
            ours.env.unwrapped.set_state(new, torch.as_tensor(d1))
            for i in np.flatnonzero(d1):
                theirs.envs[i].unwrapped.state = new[i].copy()
                o1[i] = o2[i] = new[i].astype(np.float32)
        np.testing.assert_array_equal(o1, o2)
    assert terminations > 5 and truncations > 5


def test_adapter_api():
    env = ReservoirEncoder(MaskVelocity(make_vec("MetaRL/CartPole-v1", 3, render_mode="rgb_array")), units=8, seed=0)
    venv = SB3VecEnv(env)
    assert venv.num_envs == 3 and venv.observation_space.shape == (8,) and venv.action_space == gym.spaces.Discrete(2)
    assert venv.seed(7) == [7, 8, 9]
    a = venv.reset()
    venv.seed(7)
    b = venv.reset()
    np.testing.assert_array_equal(a, b)
    assert venv.get_attr("velocity_indices") == [(1, 3)] * 3
    assert venv.get_attr("max_episode_steps", indices=[0]) == [500]
    assert venv.env_is_wrapped(MaskVelocity) == [True] * 3
    assert venv.env_is_wrapped(gym.vector.VectorObservationWrapper) == [False] * 3
    assert venv.env_method("sample_tasks", 2)[0]["gravity"].shape == (2,)
    venv.set_attr("render_row", 2)
    assert env.unwrapped.render_row == 2
    with pytest.raises(ValueError, match="all rows"):
        venv.set_attr("render_row", 1, indices=[0])
    with pytest.raises(AttributeError):
        venv.get_attr("no_such_attribute")
    assert venv.render_mode == "rgb_array"
    image = venv.render()
    assert image.ndim == 3 and image.dtype == np.uint8
    venv.step_async(np.array([0, 1, 0]))
    obs, rewards, dones, infos = venv.step_wait()
    assert obs.shape == (3, 8) and len(infos) == 3
    venv.close()
    with pytest.raises(TypeError, match="DummyVecEnv"):
        SB3VecEnv(gym.make("CartPole-v1"))


def test_reservoir_rows_restart_with_the_env():
    """Through the adapter, a finished row's reservoir restarts with its episode (partial reset)."""
    base = make_vec("MetaRL/CartPole-v1", 2, max_episode_steps=5)
    enc = ReservoirEncoder(base, units=6, seed=0)
    venv = SB3VecEnv(enc)
    venv.reset()
    for _ in range(4):
        venv.step(np.array([0, 1]))
    obs, _, dones, infos = venv.step(np.array([0, 1]))
    assert dones.all()
    fresh = ReservoirEncoder(make_vec("MetaRL/CartPole-v1", 2), units=6, seed=0)
    fresh.unwrapped.set_state(base.state)
    expected = fresh.encoder._start(base._observe(), None)  # zero state, zero action/reward, one update
    np.testing.assert_allclose(obs, expected.numpy(), atol=1e-6)
    assert not np.allclose(infos[0]["terminal_observation"], obs[0])


def test_vector_infos_are_split_per_row():
    """Gymnasium vector infos ({key: [N], "_key": mask}) become per-row dicts; episode stats match VecMonitor."""
    venv = VecMonitor(SB3VecEnv(RecordEpisodeStatistics(make_vec("MetaRL/CartPole-v1", 3, max_episode_steps=10))))
    venv.seed(0)
    venv.reset()
    rng = np.random.default_rng(1)
    ended = 0
    for _ in range(40):
        _, _, dones, infos = venv.step(rng.integers(0, 2, 3))
        for i in range(3):
            assert ("episode" in infos[i]) == dones[i]
            if dones[i]:
                ended += 1
                assert infos[i]["episode"]["r"] == pytest.approx(infos[i]["episode"]["l"])  # +1 per step
    assert ended >= 6


@pytest.mark.parametrize(
    "cls, env_id, kwargs",
    [
        (PPO, "MetaRL/CartPole-v1", dict(n_steps=32, batch_size=32, n_epochs=1)),
        (A2C, "MetaRL/CartPole-v1", dict(n_steps=5)),
        (SAC, "MetaRL/PendulumSwingup-v1", dict(learning_starts=50, batch_size=32, policy_kwargs=dict(net_arch=[16]))),
        (TD3, "MetaRL/PendulumSwingup-v1", dict(learning_starts=50, batch_size=32, policy_kwargs=dict(net_arch=[16]))),
    ],
)
def test_sb3_algorithms_learn_through_the_adapter(cls, env_id, kwargs):
    venv = VecMonitor(SB3VecEnv(make_vec(env_id, 2, max_episode_steps=40)))
    model = cls("MlpPolicy", venv, seed=0, device=torch.device("cpu"), **kwargs).learn(200)
    assert model.num_timesteps >= 200
    assert len(model.ep_info_buffer) > 0


def test_ppo_on_masked_reservoir_env():
    env = ReservoirEncoder(MaskVelocity(make_vec("MetaRL/CartPole-v1", 2)), units=16, spectral_radius=0.9, leak_rate=0.5, seed=0)
    model = PPO("MlpPolicy", VecMonitor(SB3VecEnv(env)), seed=0, n_steps=32, batch_size=32, n_epochs=1, device=torch.device("cpu"))
    model.learn(128)
    assert model.observation_space.shape == (16,)


def tiny_config(**overrides):
    config = {
        "algorithm": "ppo",
        "env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 30}},
        "num_envs": 2,
        "total_timesteps": 256,
        "seed": 1,
        "device": "cpu",
        "algorithm_kwargs": {"n_steps": 32, "batch_size": 32, "n_epochs": 1, "learning_rate": "lin_0.001", "policy_kwargs": {"net_arch": [8], "activation_fn": "relu"}},
    }
    config.update(overrides)
    return config


def test_run_baseline_writes_the_run_dir(tmp_path):
    env = {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 30}, "mask_velocity": True,
           "reservoir": {"units": 12, "spectral_radius": 0.9, "leak_rate": 0.5}}
    summary = run_baseline(tiny_config(env=env), tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.yaml", "metrics.csv", "model.zip"}
    with (tmp_path / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == METRICS_COLUMNS
    assert len(rows) >= 2 and sum(int(r["episodes"]) for r in rows) == summary["episodes"] > 0
    assert all(float(r["worst"]) <= float(r["mean"]) <= float(r["best"]) for r in rows)
    assert summary["env_steps"] == 256 and np.isfinite(summary["final_mean"])
    model = PPO.load(tmp_path / "model.zip", device="cpu")
    assert model.observation_space.shape == (12,)
    resolved = resolve_baseline_config(tiny_config())
    assert resolved["env"]["mask_velocity"] is False and resolved["env"]["reservoir"] is None


def test_run_baseline_multi_reservoir_and_sac(tmp_path):
    reservoir = {"reservoirs": [{"units": 5}, {"units": 7, "leak_rate": 0.3}], "skip_connection": True}
    summary = run_baseline(tiny_config(env={"id": "MetaRL/CartPole-v1", "reservoir": reservoir}, total_timesteps=64), tmp_path / "multi")
    assert summary["env_steps"] == 64
    sac = tiny_config(
        algorithm="sac",
        env={"id": "MetaRL/PendulumSwingup-v1", "kwargs": {"max_episode_steps": 20}},
        num_envs=1,
        total_timesteps=60,
        algorithm_kwargs={"learning_starts": 20, "batch_size": 16},
    )
    summary = run_baseline(sac, tmp_path / "sac")
    assert summary["episodes"] == 3


@pytest.mark.parametrize(
    "overrides, key",
    [
        (dict(algorithm="dqn"), "algorithm"),
        (dict(env={"id": "CartPol-v1"}), "env.id"),
        (dict(env={"id": "MetaRL/CartPole-v1", "colour": 1}), "env.colour"),
        (dict(num_envs=0), "num_envs"),
        (dict(total_timesteps=-5), "total_timesteps"),
        (dict(env={"id": "MetaRL/CartPole-v1", "mask_velocity": "yes"}), "env.mask_velocity"),
        (dict(mask_velocity=True), "mask_velocity': moved into the env section.*write env.mask_velocity"),
        (dict(algorithm_kwargs={"n_step": 3}), "algorithm_kwargs.n_step"),
        (dict(algorithm_kwargs={"learning_rate": "cos_0.1"}), "algorithm_kwargs.learning_rate"),
        (dict(env={"id": "MetaRL/CartPole-v1", "reservoir": {"unit": 10}}), "env.reservoir.unit"),
        (dict(env={"id": "MetaRL/CartPole-v1", "reservoir": {"reservoirs": [{"sr": 1.0}]}}), "env.reservoir.reservoirs.0.sr"),
        (dict(env={"id": "MetaRL/CartPole-v1", "morphologies": ["standard"]}), "env.morphologies"),
        (dict(policy="MlpPolicy"), "policy"),
        (dict(device="tpu-ish"), "device"),
    ],
)
def test_config_errors_name_the_key(overrides, key):
    with pytest.raises(ValueError, match=f"^config key '{key}"):
        resolve_baseline_config(tiny_config(**overrides))


def test_continuous_algorithm_on_discrete_env(tmp_path):
    with pytest.raises(ValueError, match="Box"):
        run_baseline(tiny_config(algorithm="sac", algorithm_kwargs={}), tmp_path)


# ---------------------------------------------------------------------------------------------- learning checks
def example_config(name):
    import yaml
    from pathlib import Path

    return yaml.safe_load((Path(__file__).parents[2] / "examples" / "configs" / name).read_text())


@pytest.mark.slow
def test_ppo_cartpole_config_solves_cartpole(tmp_path):
    """examples/configs/ppo_cartpole.yaml: mean return of the last 10 episodes >= 475 (already within 50k steps)."""
    summary = run_baseline({**example_config("ppo_cartpole.yaml"), "total_timesteps": 50_000}, tmp_path)
    assert summary["final_mean"] >= 475


@pytest.mark.slow
def test_sac_pendulum_config_swings_up(tmp_path):
    """examples/configs/sac_pendulum.yaml: mean return of the last 10 episodes >= -250 (already within 6k steps)."""
    summary = run_baseline({**example_config("sac_pendulum.yaml"), "total_timesteps": 6_000}, tmp_path)
    assert summary["final_mean"] >= -250
