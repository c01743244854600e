"""ER-MRL on Gymnasium MuJoCo envs (the mujoco extra; seconds each): the same path as the MetaRL ids —
``metarl_gym.envs.make`` (Gymnasium's sync vector env behind NumpyToTorch), the reservoir encoder fed with the
previous continuous action, the SB3 adapter, PPO — for a tiny study that resumes, the generalisation protocol
(evolve on Swimmer + HalfCheetah, test on the held-out Hopper) and strict config checks."""

import io
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("mujoco", reason="needs the mujoco extra: pip install -e .[mujoco]")

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

from metarl_gym.baselines.er_mrl import TARGET_SCORES, random_policy_score, resolve_er_mrl_config, run_er_mrl, run_trial  # noqa: E402
from metarl_gym.baselines.run import resolve_baseline_config  # noqa: E402
from metarl_gym.baselines.sb3 import SB3VecEnv  # noqa: E402
from metarl_gym.envs import make  # noqa: E402
from helpers import tiny_study  # noqa: E402

@pytest.fixture(autouse=True)
def _mujoco_log_in_tmp(tmp_path_factory, monkeypatch):
    """MuJoCo writes its warnings (Hopper's deprecated 'settotalmass') to MUJOCO_LOG.TXT in the working directory."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


PPO_KWARGS = {"n_steps": 32, "batch_size": 32, "n_epochs": 1, "policy_kwargs": {"net_arch": [8]}}


def tiny_config(**overrides):
    """helpers.tiny_study on Swimmer (one thread, a 4-episode random-policy score)."""
    config = tiny_study(
        envs=[{"id": "Swimmer-v5", "kwargs": {"max_episode_steps": 20}}],
        threads=1,
        fitness={"seeds": 1, "total_timesteps": 128, "last_episodes": 5, "random_episodes": 4},
        ppo={"num_envs": 2, "algorithm_kwargs": PPO_KWARGS},
        test={"seeds": 1, "total_timesteps": 128},
    )
    return {**config, **overrides}


def recording_map(calls):
    def map_fn(fn, specs):
        calls.extend(specs)
        return [fn(yaml.safe_load(yaml.safe_dump(s))) for s in specs]  # plain YAML-able specs, as Ray ships them

    return map_fn


def test_swimmer_study_runs_tests_and_resumes(tmp_path):
    calls = []
    summary = run_er_mrl(tiny_config(), tmp_path / "a", progress=False, map_fn=recording_map(calls))
    run_dir = tmp_path / "a"
    for name in ("config.yaml", "checkpoint.pt", "history.json", "metrics.csv", "best.json", "fitness.png", "comparison.png", "test_summary.json"):
        assert (run_dir / name).exists(), name
    # every trial goes through Gymnasium's sync vector env (there is no torch entry point for Swimmer-v5)
    assert [s["kind"] for s in calls] == ["score"] * 3 + ["test"] * 2
    envs = [s["baseline"]["env"] for s in calls]
    assert all((e["id"], e["kwargs"], e.get("vectorization_mode")) == ("Swimmer-v5", {"max_episode_steps": 20}, None) for e in envs)
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history) == 3 and all(math.isfinite(h["fitness"]) for h in history)
    assert len({h["fitness"] for h in history}) == 3  # three reservoirs, three different PPO results
    test = summary["test"]
    assert test["env"]["id"] == "Swimmer-v5" and set(test["conditions"]) == {"ppo", "res_ppo"}
    assert all(math.isfinite(c["final_mean"]) for c in test["conditions"].values())
    assert (run_dir / "test" / "res_ppo" / "seed_0" / "model.zip").exists()

    # one more generation on the same directory equals a two-generation study run in one go
    two = tiny_config(search={"generations": 2, "pop_size": 3, "sigma0": 0.3})
    more = run_er_mrl(two, run_dir, progress=False, test=False)
    straight = run_er_mrl(two, tmp_path / "b", progress=False, test=False)
    resumed, direct = (json.loads((d / "history.json").read_text()) for d in (run_dir, tmp_path / "b"))
    assert more["generations"] == 2 and len(resumed) == 6
    assert [h["params"] for h in resumed] == [h["params"] for h in direct]
    assert [h["fitness"] for h in resumed] == [h["fitness"] for h in direct]
    assert more["best"] == straight["best"]


def test_generalisation_protocol_evolve_on_two_test_on_held_out_hopper(tmp_path):
    swimmer = {"id": "Swimmer-v5", "kwargs": {"max_episode_steps": 20}}
    cheetah = {"id": "HalfCheetah-v5", "kwargs": {"max_episode_steps": 20}}
    config = tiny_config(envs=[swimmer, cheetah], test={"env": {"id": "Hopper-v5", "kwargs": {"max_episode_steps": 20}}, "seeds": 2, "total_timesteps": 96})
    summary = run_er_mrl(config, tmp_path, progress=False)
    best = json.loads((tmp_path / "best.json").read_text())
    # the random-policy returns are measured on the evolution envs (with their kwargs), not assumed
    resolved = resolve_er_mrl_config(config)
    for i in range(2):
        assert best["random_scores"][str(i)] == random_policy_score(resolved["envs"][i], 4, 0, "cpu")
    assert best["random_scores"]["0"] != best["random_scores"]["1"]
    targets = [TARGET_SCORES["Swimmer-v5"], TARGET_SCORES["HalfCheetah-v5"]]
    assert targets == [60.0, 750.0]
    scores, random = best["scores"], best["random_scores"]
    expected = np.mean([(scores[str(i)] - random[str(i)]) / (targets[i] - random[str(i)]) for i in range(2)])
    assert math.isclose(best["fitness"], expected, rel_tol=1e-9)
    assert summary["test"]["env"]["id"] == "Hopper-v5"
    for condition in ("ppo", "res_ppo"):
        finals = summary["test"]["conditions"][condition]["final_returns"]
        assert len(finals) == 2 and all(math.isfinite(f) for f in finals)
        result = json.loads((tmp_path / "test" / condition / "seed_1" / "result.json").read_text())
        assert result["env_id"] == "Hopper-v5" and result["env_steps"] >= 96
    assert (tmp_path / "comparison.png").exists()


def test_trained_model_acts_continuously_on_reservoir_states():
    config = resolve_er_mrl_config(tiny_config())
    from metarl_gym.baselines.er_mrl import ppo_config

    reservoir = {"reservoirs": [{"units": 10, "spectral_radius": 0.9, "leak_rate": 0.3, "input_scaling": 1.0}], "use_action": True, "use_reward": True}
    result = run_trial({"kind": "test", "baseline": ppo_config(config, config["envs"][0], 3, 64, reservoir)})
    model = PPO.load(io.BytesIO(result["model_zip"]), device="cpu")
    assert model.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert model.observation_space.shape == (10,)
    assert result["env_steps"] == 64 and result["episodes"] == 2  # 2 rows x 32 steps: one 20-step episode each


def test_reservoir_over_gymnasium_sync_env_equals_single_env_encoder_and_feeds_the_action():
    """Through SB3VecEnv (partial resets included), the vector encoder over Gymnasium's sync env gives per row
    exactly the states of ReservoirObservation over one gym.make env, which feeds the real continuous action."""
    reservoir = {"units": 12, "spectral_radius": 0.9, "leak_rate": 0.5, "input_scaling": 1.0, "seed": 4}
    n = 3
    venv = SB3VecEnv(make("Swimmer-v5", n, max_episode_steps=5, reservoir=reservoir))
    singles = [make("Swimmer-v5", max_episode_steps=5, reservoir=reservoir) for _ in range(n)]
    venv.seed(7)
    obs = venv.reset()
    assert obs.shape == (n, 12)
    for i, env in enumerate(singles):
        np.testing.assert_allclose(obs[i], env.reset(seed=7 + i)[0], atol=1e-6)
    rng = np.random.default_rng(0)
    encoder = venv.env.encoder
    finished = 0
    for _ in range(12):
        actions = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        obs, rewards, dones, infos = venv.step(actions)
        for i, env in enumerate(singles):
            single_obs, reward, terminated, truncated, _ = env.step(actions[i])
            assert dones[i] == (terminated or truncated) and math.isclose(rewards[i], reward, rel_tol=1e-6)
            if dones[i]:
                finished += 1
                np.testing.assert_allclose(infos[i]["terminal_observation"], single_obs, atol=1e-6)
                single_obs = env.reset()[0]
            np.testing.assert_allclose(obs[i], single_obs, atol=1e-6)
        # the previous action input is the action taken (zeroed on the rows that just restarted)
        expected = torch.as_tensor(actions) * torch.as_tensor(~dones)[:, None]
        torch.testing.assert_close(encoder._prev_action, expected)
    assert finished == 2 * n  # two 5-step episodes per row
    assert encoder.reservoirs[0].input_dim == 8 + 2 + 1  # obs, previous action, previous reward

    # the action does enter the reservoir: without it the states differ
    blind = SB3VecEnv(make("Swimmer-v5", n, max_episode_steps=5, reservoir={**reservoir, "use_action": False}))
    blind.seed(7)
    blind.reset()
    rng = np.random.default_rng(0)
    state = blind.step(rng.uniform(-1, 1, (n, 2)).astype(np.float32))[0]
    venv.seed(7)
    venv.reset()
    rng = np.random.default_rng(0)
    assert not np.allclose(state, venv.step(rng.uniform(-1, 1, (n, 2)).astype(np.float32))[0])


def test_sb3_adapter_over_gymnasium_sync_env_equals_dummy_vec_env():
    ours = SB3VecEnv(make("Hopper-v5", 3, max_episode_steps=7))
    ref = DummyVecEnv([lambda: gym.make("Hopper-v5", max_episode_steps=7) for _ in range(3)])
    ours.seed(3)
    ref.seed(3)
    np.testing.assert_array_equal(ours.reset(), ref.reset())
    rng = np.random.default_rng(0)
    for _ in range(16):
        actions = rng.uniform(-1, 1, (3, 3)).astype(np.float32)
        o1, r1, d1, i1 = ours.step(actions)
        o2, r2, d2, i2 = ref.step(actions)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_allclose(r1, r2, rtol=1e-6)
        np.testing.assert_array_equal(d1, d2)
        for k in np.flatnonzero(d1):
            np.testing.assert_array_equal(i1[k]["terminal_observation"], i2[k]["terminal_observation"])
            assert i1[k]["TimeLimit.truncated"] == i2[k]["TimeLimit.truncated"]


@pytest.mark.parametrize(
    "envs, key, message",
    [
        ([{"id": "Swimer-v5"}], "envs.0.id", "did you mean 'Swimmer-v5'"),
        ([{"id": "Swimmer-v5", "kwargs": {"ctrl_cost_weigth": 0.1}}], "envs.0.kwargs.ctrl_cost_weigth", "did you mean 'ctrl_cost_weight'"),
        ([{"id": "Swimmer-v5", "kwargs": {"max_episode_steps": 2.5}}], "envs.0.kwargs.max_episode_steps", "int"),
        ([{"id": "Swimmer-v5", "kwargs": {"frame_skip": 0}}], "envs.0.kwargs", "could not be built"),
        ([{"id": "Swimmer-v5", "mask_velocity": True}], "envs.0.mask_velocity", "declares none"),
        ([{"id": "Blackjack-v1"}], "envs.0.id", "flat Box"),
        ([{"id": "Swimmer-v5"}, {"id": "InvertedPendulum-v5"}], "envs.1.target_score", "no default for InvertedPendulum-v5"),
    ],
)
def test_config_errors_on_gymnasium_ids_name_the_key(envs, key, message):
    with pytest.raises(ValueError, match=f"config key '{key}'") as err:
        resolve_er_mrl_config(tiny_config(envs=envs))
    assert message in str(err.value)


def test_gymnasium_ids_resolve_with_their_defaults():
    config = resolve_er_mrl_config(tiny_config(envs=["Swimmer-v5", {"id": "HalfCheetah-v5", "kwargs": {"ctrl_cost_weight": 0.2}}], test={"env": "Hopper-v5"}))
    assert [e["target_score"] for e in config["envs"]] == [60.0, 750.0]
    assert config["test"]["env"]["id"] == "Hopper-v5"
    explicit = resolve_er_mrl_config(tiny_config(envs=[{"id": "Swimmer-v5"}, {"id": "InvertedPendulum-v5", "target_score": 900.0}]))
    assert explicit["envs"][1]["target_score"] == 900.0


def test_baseline_takes_gymnasium_ids_in_a_numpy_vectorization_mode():
    """The one env section: a Gymnasium id runs in Gymnasium's sync vector env (null picks it), never in a torch
    entry point it does not have."""
    assert resolve_baseline_config({"env": {"id": "Swimmer-v5"}})["env"]["vectorization_mode"] is None
    resolved = resolve_baseline_config({"env": {"id": "Swimmer-v5", "vectorization_mode": "sync"}})
    assert resolved["env"]["vectorization_mode"] == "sync"
    from metarl_gym.evolution.evaluate import build_env

    wrong = resolve_baseline_config({"env": {"id": "Swimmer-v5", "vectorization_mode": "vector_entry_point"}})
    with pytest.raises(ValueError, match="config section 'env'.*no torch vector entry point"):  # envs.make says so
        build_env(wrong, 1)
    with pytest.raises(ValueError, match="config key 'env.id'"):
        resolve_baseline_config({"env": {"id": "Swimmer-v9", "vectorization_mode": "sync"}})


def test_example_config_resolves_and_runs_at_a_tiny_budget(tmp_path):
    """examples/configs/er_mrl_mujoco.yaml: Swimmer + HalfCheetah -> held-out Hopper, shrunk to seconds."""
    from pathlib import Path

    from metarl_gym.config import apply_overrides

    path = Path(__file__).parents[2] / "examples" / "configs" / "er_mrl_mujoco.yaml"
    config = yaml.safe_load(path.read_text())
    resolved = resolve_er_mrl_config(config)
    assert [e["id"] for e in resolved["envs"]] == ["Swimmer-v5", "HalfCheetah-v5"] and resolved["test"]["env"]["id"] == "Hopper-v5"
    config = apply_overrides(config, [
        "search.pop_size=3", "search.generations=1", "fitness.total_timesteps=64", "fitness.last_episodes=2",
        "fitness.random_episodes=2", "reservoir.units=10", "ppo.num_envs=2", "ppo.algorithm_kwargs.n_steps=32",
        "ppo.algorithm_kwargs.batch_size=32", "ppo.algorithm_kwargs.n_epochs=1", "test.seeds=1", "test.total_timesteps=64",
        "test.env.kwargs.max_episode_steps=10",
    ])
    for env in config["envs"]:
        env["kwargs"]["max_episode_steps"] = 10
    summary = run_er_mrl(config, tmp_path / "run", progress=False)
    assert summary["generations"] == 1 and summary["test"]["env"]["id"] == "Hopper-v5"
    assert math.isfinite(summary["best"]["fitness"])
