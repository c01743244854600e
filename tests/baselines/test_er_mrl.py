"""ER-MRL loop with tiny budgets: search space, a study that runs and resumes exactly, test protocol, generalisation."""

import json
import math

import numpy as np
import pytest

from metarl_gym.baselines.er_mrl import SEARCH_BOUNDS, decode, encode, parameter_names, resolve_er_mrl_config, run_er_mrl


def tiny_config(**overrides):
    config = {
        "envs": [{"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 40}, "mask_velocity": True}],
        "seed": 0,
        "device": "cpu",
        "workers": 1,
        "reservoir": {"nb_res": 1, "units": 10},
        "search": {"generations": 1, "popsize": 2, "sigma0": 0.3},
        "fitness": {"seeds": 1, "total_timesteps": 64, "last_episodes": 10},
        "ppo": {"n_envs": 2, "algorithm_kwargs": {"n_steps": 16, "batch_size": 32, "n_epochs": 1, "policy_kwargs": {"net_arch": [8]}}},
        "test": {"seeds": 2, "total_timesteps": 64},
    }
    config.update(overrides)
    return config


def test_search_space_is_log_scaled_within_the_bounds():
    config = resolve_er_mrl_config(tiny_config(reservoir={"nb_res": 2, "units": 10}))
    assert parameter_names(config) == ["spectral_radius_0", "leak_rate_0", "input_scaling_0", "spectral_radius_1", "leak_rate_1", "input_scaling_1"]
    low, high = decode(np.zeros(6), config), decode(np.ones(6), config)
    for name in parameter_names(config):
        lo, hi = SEARCH_BOUNDS[name.rsplit("_", 1)[0]]
        assert math.isclose(low[name], lo) and math.isclose(high[name], hi)
    assert math.isclose(decode(np.full(6, 0.5), config)["spectral_radius_0"], 0.1)  # centre of [1e-4, 1e2] in log scale
    z = np.random.default_rng(0).uniform(size=6)
    np.testing.assert_allclose(encode(decode(z, config), config), z)
    fixed = resolve_er_mrl_config(tiny_config(search={"evolve_input_scaling": False}))
    assert parameter_names(fixed) == ["spectral_radius_0", "leak_rate_0"]


def test_study_runs_tests_and_resumes(tmp_path):
    summary = run_er_mrl(tiny_config(), tmp_path / "a", progress=False)
    run_dir = tmp_path / "a"
    for name in ("config.yaml", "study.pkl", "history.json", "metrics.csv", "best.json", "comparison.png", "test_summary.json"):
        assert (run_dir / name).exists(), name
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history) == 2 and all(math.isfinite(h["fitness"]) for h in history)
    for seed in range(2):
        for condition in ("ppo", "res_ppo"):
            assert (run_dir / "test" / condition / f"seed_{seed}" / "metrics.csv").exists()
    test = summary["test"]
    assert set(test["conditions"]) == {"ppo", "res_ppo"} and isinstance(test["reservoir_beats_ppo"], bool)
    assert len(test["conditions"]["res_ppo"]["final_returns"]) == 2

    # continue the same study for one more generation: equals a study run for two generations in one go
    more = run_er_mrl(tiny_config(search={"generations": 2, "popsize": 2, "sigma0": 0.3}), run_dir, progress=False, test=False)
    assert more["generations"] == 2
    straight = run_er_mrl(tiny_config(search={"generations": 2, "popsize": 2, "sigma0": 0.3}), tmp_path / "b", progress=False, test=False)
    resumed = json.loads((run_dir / "history.json").read_text())
    direct = json.loads((tmp_path / "b" / "history.json").read_text())
    assert [h["params"] for h in resumed] == [h["params"] for h in direct]
    assert [h["fitness"] for h in resumed] == [h["fitness"] for h in direct]
    assert straight["best"] == more["best"]
    assert len((run_dir / "metrics.csv").read_text().strip().splitlines()) == 3

    with pytest.raises(ValueError, match="config key 'fitness'"):
        run_er_mrl(tiny_config(fitness={"seeds": 2, "total_timesteps": 64}), run_dir, progress=False)


def test_generalisation_with_normalised_fitness_and_workers(tmp_path):
    config = tiny_config(
        envs=[
            {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 20}, "mask_velocity": True},
            {"id": "MetaRL/PendulumSwingup-v1", "kwargs": {"max_episode_steps": 16}, "mask_velocity": True, "target_score": -50.0},
        ],
        test={"env": {"id": "MetaRL/Pendulum-v0", "kwargs": {"max_episode_steps": 16}, "mask_velocity": True}, "seeds": 1, "total_timesteps": 64},
        workers=2,
    )
    summary = run_er_mrl(config, tmp_path, progress=False)
    best = json.loads((tmp_path / "best.json").read_text())
    random_scores = best["random_scores"]
    assert set(random_scores) == {"0", "1"}
    assert 5 < random_scores["0"] < 20  # a random policy keeps the pole up ~20 steps (episodes cut at 20)
    scores = best["scores"]
    expected = np.mean([(scores["0"] - random_scores["0"]) / (500 - random_scores["0"]), (scores["1"] - random_scores["1"]) / (-50 - random_scores["1"])])
    assert math.isclose(best["fitness"], expected, rel_tol=1e-9)
    assert summary["test"]["env"]["id"] == "MetaRL/Pendulum-v0"
    assert (tmp_path / "comparison.png").exists()


@pytest.mark.parametrize(
    "overrides, key",
    [
        (dict(envs=[]), "envs"),
        (dict(envs=[{"id": "MetaRL/Nope-v0"}]), "envs.0.env.id"),
        (dict(search={"popsize": 1}), "search.popsize"),
        (dict(search={"sigma0": 2.0}), "search.sigma0"),
        (dict(search={"x0": {"spectral_radius": 1e3}}), "search.x0.spectral_radius"),
        (dict(reservoir={"units": 0}), "reservoir.units"),
        (dict(reservoir={"rc_connectivity": 0.0}), "reservoir.rc_connectivity"),
        (dict(fitness={"seed": 3}), "fitness.seed"),
        (dict(ppo={"n_envs": 2, "algorithm_kwargs": {"nsteps": 4}}), "ppo.algorithm_kwargs.nsteps"),
        (dict(envs=[{"id": "MetaRL/CartPole-v1"}, {"id": "MetaRL/DoublePendulum-v0"}]), "envs.1.target_score"),
        (dict(generations=3), "generations"),
    ],
)
def test_config_errors_name_the_key(overrides, key):
    with pytest.raises(ValueError, match=f"config key '{key}'"):
        resolve_er_mrl_config(tiny_config(**overrides))
