"""Fuzz cases of issue 19 ("Tracebacks instead of one line", "Accepted silently"): each is refused with exit code 2
and one line on stderr naming the key or argument, before anything is allocated or written."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import metarl_gym  # noqa: F401  (registers the ids)
from metarl_gym.agents import CNNPolicy, HebbianPolicy, MLPPolicy
from metarl_gym.cli import _os_error_line, main
from metarl_gym.config import resolve_evolve_config
from metarl_gym.evolution.rollout import rollout
from metarl_gym.memory import PARAM_COPIES, check_evolve_memory, evolve_bytes, format_bytes

import helpers

PPO_CONFIG = str(Path(__file__).resolve().parent.parent / "examples" / "configs" / "ppo_cartpole.yaml")
TINY = ["--no-progress", "generations=1", "strategy.pop_size=4", "strategy.kwargs.num_survivors=2", "strategy.kwargs.elitism=1"]


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """``metarl-gym argv`` in this process: (exit code, stderr)."""
    try:
        rc = main(argv)
    except SystemExit as stop:  # argparse
        rc = stop.code
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> str:
    """A finished one-generation GA run to evaluate."""
    path = tmp_path_factory.mktemp("fuzz") / "run"
    assert main(["evolve", "--run-dir", str(path), *TINY]) == 0
    return str(path)


EVOLVE_CASES = {
    # name: (overrides, words the one line must hold)
    "device_meta": (["device=meta"], "config key 'device': 'meta'"),
    "device_bogus": (["device=gpu0"], "config key 'device'"),
    "hidden_sizes_1e8": (["strategy.pop_size=100", "policy.kwargs.hidden_sizes=[100000000]"], "lower strategy.pop_size or the policy's size"),
    "pop_size_1e12": (["strategy.pop_size=1000000000000"], "population 1,000,000,000,000 x"),
    "pop_size_1e12_float_text": (["strategy.pop_size=1e12"], "population 1,000,000,000,000 x"),  # YAML 1.2: 1e12 is a number
    "pop_size_fraction": (["strategy.pop_size=2.5e0"], "config key 'strategy.pop_size': must be an integer"),
    "cma_es_full_covariance": (["strategy.name=cma_es", "strategy.kwargs={}", "policy.kwargs.hidden_sizes=[20000]"], "strategy.kwargs.diagonal: true"),
    "hidden_sizes_0": (["policy.kwargs.hidden_sizes=[0]"], "hidden_sizes must be positive"),
    "episodes_true": (["episodes=True"], "config key 'episodes'"),
    "seed_negative": (["seed=-1"], "config key 'seed'"),
    "env_num_envs_true": (["env.kwargs.num_envs=True"], "env.kwargs.num_envs"),
    "env_dtype_int": (["env.kwargs.dtype=int32"], "dtype"),
    "override_alias": (["env.kwargs={a: &x 1, b: *x}"], "anchor &x refused"),
    "reservoir_units_0": (["env.reservoir={units: 0}"], "config section 'env': units must be a positive integer"),
    "reservoir_leak_rate_2": (["env.reservoir={units: 8, leak_rate: 2}"], "config section 'env': leak_rate must be in (0.0, 1.0]"),
    "reservoir_unknown_key": (["env.reservoir={units: 8, leak: 0.5}"], "config key 'env.reservoir.leak': is not an argument of ReservoirEncoder"),
    "generations_beyond_int64": (["generations=10000000000000000000000"], "config key 'generations': must be <= 9223372036854775807"),
}


@pytest.mark.parametrize("name", sorted(EVOLVE_CASES))
def test_evolve_refused(tmp_path, capsys, name):
    overrides, words = EVOLVE_CASES[name]
    rc, err = run_cli(["evolve", "--run-dir", str(tmp_path / "run"), *TINY, *overrides], capsys)
    assert rc == 2 and err.count("\n") == 1 and err.startswith("metarl-gym evolve: error:"), err
    assert words in err, err
    assert not (tmp_path / "run").exists()


def test_yaml_5000_levels_deep(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("env:\n  kwargs:\n    x: " + "[" * 5000 + "]" * 5000 + "\n")
    rc, err = run_cli(["evolve", str(path), "--run-dir", str(tmp_path / "run"), "--no-progress"], capsys)
    assert rc == 2 and err.count("\n") == 1 and f"{path}:3:" in err and "nested more than" in err, err


ARGUMENT_CASES = {
    "evaluate_episodes_1e12": (["evaluate", "{run}", "--episodes", "1e12"], "--episodes 1,000,000,000,000 needs about"),
    "evaluate_episodes_0": (["evaluate", "{run}", "--episodes", "0"], "argument --episodes: must be an integer >= 1"),
    "evaluate_episodes_fraction": (["evaluate", "{run}", "--episodes", "2.5"], "argument --episodes: must be an integer"),
    "evaluate_seed_negative": (["evaluate", "{run}", "--seed", "-1"], "argument --seed: must be an integer in [0,"),
    "evaluate_seed_2_63": (["evaluate", "{run}", "--seed", str(2**63)], "argument --seed"),
    "show_every_0": (["show", "MetaRL/CartPole-v1", "--out", "{tmp}/x.gif", "--every", "0"], "argument --every: must be an integer >= 1"),
    "show_steps_negative": (["show", "MetaRL/CartPole-v1", "--out", "{tmp}/x.gif", "--steps", "-3"], "argument --steps"),
    "show_seed_negative": (["show", "MetaRL/CartPole-v1", "--out", "{tmp}/x.gif", "--seed", "-1"], "argument --seed"),
    "show_steps_1e12": (["show", "MetaRL/CartPole-v1", "--out", "{tmp}/x.gif", "--steps", "1e12"], "a GIF of 1,000,000,000,001 frames needs about"),
    "unknown_option": (["evolve", "--bogus"], "unrecognized arguments: --bogus"),
}


@pytest.mark.parametrize("name", sorted(ARGUMENT_CASES))
def test_arguments_refused(tmp_path, capsys, run_dir, name):
    argv, words = ARGUMENT_CASES[name]
    argv = [a.format(run=run_dir, tmp=tmp_path) for a in argv]
    rc, err = run_cli(argv, capsys)
    assert rc == 2 and err.count("\n") == 1 and "error:" in err, err
    assert words in err, err
    assert not (tmp_path / "x.gif").exists()


def test_show_with_one_frame_per_million_steps(tmp_path, capsys):
    """--every 1000000: a GIF frame lasts 50,000 s at 20 fps, more than a GIF can say (16-bit centiseconds)."""
    rc, err = run_cli(["show", "MetaRL/CartPole-v1", "--out", str(tmp_path / "x.gif"), "--steps", "30", "--every", "1000000",
                       "--no-progress"], capsys)
    assert rc == 0 and (tmp_path / "x.gif").stat().st_size > 0, err


def test_evaluate_accepts_float_notation_integers(capsys, run_dir):
    rc, err = run_cli(["evaluate", run_dir, "--episodes", "2e0", "--seed", "7", "--no-progress"], capsys)
    assert rc == 0, err


BASELINE_CASES = {
    "batch_size_0": (["algorithm_kwargs.batch_size=0"], "'algorithm_kwargs.batch_size': must be an integer >= 1"),
    "batch_size_1": (["algorithm_kwargs.batch_size=1"], "'algorithm_kwargs.batch_size': must be > 1"),
    "n_steps_0": (["algorithm_kwargs.n_steps=0"], "'algorithm_kwargs.n_steps': must be an integer >= 1"),
    "n_steps_times_n_envs_1": (["algorithm_kwargs.n_steps=1", "num_envs=1"], "n_steps x num_envs = 1 x 1"),
    "n_steps_float": (["algorithm_kwargs.n_steps=1.5"], "'algorithm_kwargs.n_steps'"),
    "gamma_2": (["algorithm_kwargs.gamma=2"], "'algorithm_kwargs.gamma': must be a finite number >= 0 and <= 1"),
    "gae_lambda_nan": (["algorithm_kwargs.gae_lambda=.nan"], "'algorithm_kwargs.gae_lambda'"),
    "ent_coef_negative": (["algorithm_kwargs.ent_coef=-0.1"], "'algorithm_kwargs.ent_coef'"),
    "lin_schedule_negative": (["algorithm_kwargs.learning_rate=lin_-1"], "finite start > 0"),
    "policy_kwargs_unknown": (["algorithm_kwargs.policy_kwargs={netarch: [64]}"], "'algorithm_kwargs.policy_kwargs.netarch': is not an argument"),
    "policy_kwargs_class": (["algorithm_kwargs.policy_kwargs={optimizer_class: Adam}"], "takes a Python class"),
    "net_arch_0": (["algorithm_kwargs.policy_kwargs={net_arch: [0]}"], "'algorithm_kwargs.policy_kwargs.net_arch': must be a list of layer widths"),
    "net_arch_dict_qf_for_ppo": (["algorithm_kwargs.policy_kwargs={net_arch: {pi: [8], qf: [8]}}"], "unknown network"),
    "n_envs_true": (["num_envs=True"], "config key 'num_envs'"),
    "device_meta": (["device=meta"], "config key 'device'"),
    "n_envs_1e8": (["num_envs=100000000"], "this baseline needs about"),
    "sac_buffer_1e10": (["algorithm=sac", "env.id=MetaRL/Pendulum-v0", "algorithm_kwargs={buffer_size: 10000000000}"], "replay buffer of 10,000,000,000 transitions"),
}


@pytest.mark.parametrize("name", sorted(BASELINE_CASES))
def test_baseline_refused(tmp_path, capsys, name):
    overrides, words = BASELINE_CASES[name]
    rc, err = run_cli(["baseline", PPO_CONFIG, "--run-dir", str(tmp_path / "run"), "--no-progress", "total_timesteps=64", *overrides], capsys)
    assert rc == 2 and err.count("\n") == 1 and err.startswith("metarl-gym baseline: error:"), err
    assert words in err, err
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------- Python API
def _cartpole(n=4, **kwargs):
    return helpers.make_vec("MetaRL/CartPole-v1", n, **kwargs)


UNBOUNDED = gym.spaces.Box(-float("inf"), float("inf"), (2,))
HALF_BOUNDED = gym.spaces.Box(0.0, float("inf"), (2,))
OBS = gym.spaces.Box(-1.0, 1.0, (3,))


def _rollout_pop0():
    env = _cartpole()
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[4])
    rollout(env, policy, torch.zeros(0, policy.num_params))


def _rollout_other_obs():
    env = _cartpole()
    policy = MLPPolicy(gym.spaces.Box(-1, 1, (7,)), env.single_action_space, hidden_sizes=[4])
    rollout(env, policy, torch.zeros(4, policy.num_params))


def _rollout_other_actions():
    env = _cartpole()
    policy = MLPPolicy(env.single_observation_space, gym.spaces.Discrete(3), hidden_sizes=[4])
    rollout(env, policy, torch.zeros(4, policy.num_params))


API_CASES = {
    "rollout_pop_0": (_rollout_pop0, "params has no rows"),
    "rollout_other_observation_size": (_rollout_other_obs, "observation space Box of shape (7,), the env's is Box of shape (4,)"),
    "rollout_other_action_space": (_rollout_other_actions, "action space Discrete(3), the env's is Discrete(2)"),
    "make_vec_dtype_int32": (lambda: _cartpole(dtype=torch.int32), "dtype must be a floating-point torch dtype"),
    "make_vec_num_envs_true": (lambda: _cartpole(n=True), "num_envs must be a positive integer"),
    "make_vec_max_steps_float": (lambda: _cartpole(max_episode_steps=2.5), "max_episode_steps must be a positive integer"),
    "mlp_tanh_unbounded": (lambda: MLPPolicy(OBS, UNBOUNDED, output="tanh"), "has an infinite bound"),
    "mlp_tanh_half_bounded": (lambda: MLPPolicy(OBS, HALF_BOUNDED), "has an infinite bound"),
    "hebbian_tanh_unbounded": (lambda: HebbianPolicy(OBS, UNBOUNDED, output="tanh"), "has an infinite bound"),
    "cnn_tanh_unbounded": (lambda: CNNPolicy(gym.spaces.Box(0, 255, (16, 16, 3)), UNBOUNDED, output="tanh",
                                             conv_layers=[dict(out_channels=2, kernel_size=3)]), "has an infinite bound"),
}


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_api_refused(name):
    call, words = API_CASES[name]
    with pytest.raises(ValueError, match=".") as info:  # UserError is a ValueError too
        call()
    assert words in str(info.value), str(info.value)


@pytest.mark.parametrize("output", ["clip", "tanh_clip"])
def test_unbounded_box_with_other_outputs_is_accepted(output):
    policy = MLPPolicy(OBS, UNBOUNDED, output=output, hidden_sizes=[4])
    actions, _ = policy.act(torch.zeros(2, policy.num_params), torch.zeros(2, 3), None)
    assert actions.shape == (2, 2) and torch.isfinite(actions).all()


def test_memory_estimate():
    config = resolve_evolve_config({"strategy": {"pop_size": 10}, "episodes": 3})
    need, breakdown = evolve_bytes(config, num_params=100, obs_dim=4, action_dim=1, plastic=False)
    assert need == PARAM_COPIES * 10 * 100 * 4 + 30 * 5 * 4 * 8 and "30 env rows" in breakdown
    assert evolve_bytes(config, 100, 4, 1, plastic=True)[0] == PARAM_COPIES * 10 * 100 * 4 + 10 * 5 * 4 * 8
    env = _cartpole(1)
    check_evolve_memory(config, MLPPolicy(env.single_observation_space, env.single_action_space))  # a small run fits
    assert format_bytes(999) == "999 B" and format_bytes(1.5e9) == "1.5 GB"


# ---------------------------------------------------------------------------------------------- output paths, arguments
# An output the system refuses (a directory, a file where a folder should be, a read-only file system) was a traceback;
# a few arguments got a misleading line. Each case must leave its tmp_path as it found it.
OUTPUT_CASES = {
    # name: (argv, words the one line must hold, words it must not hold)
    "plot_out_is_a_directory": (["plot", "{run}", "--out", "{tmp}/dir.png"], "dir.png: Is a directory (EISDIR)", None),
    "show_out_is_a_directory": (["show", "MetaRL/CartPole-v1", "--out", "{tmp}/dir.gif", "--steps", "3", "--no-progress"],
                                "dir.gif: Is a directory (EISDIR)", None),
    "evaluate_gif_is_a_directory": (["evaluate", "{run}", "--episodes", "1", "--gif", "{tmp}/dir.gif", "--no-progress"],
                                    "dir.gif: Is a directory (EISDIR)", None),
    "plot_out_without_extension": (["plot", "{run}", "--out", "{tmp}/figure"], "e.g. --out {tmp}/figure.png", None),
    "plot_unknown_image_format": (["plot", "{run}", "--out", "{tmp}/figure.xyz"], "Format 'xyz' is not supported", "--x"),
    "baseline_override_without_config": (["baseline", "total_timesteps=64", "--no-progress"], "baseline needs a YAML config", None),
    "plot_out_below_a_file": (["plot", "{run}", "--out", "{tmp}/afile/x.png"], "afile is a file, not a folder", "Errno"),
    "show_out_below_a_file": (["show", "MetaRL/CartPole-v1", "--out", "{tmp}/afile/x.gif", "--steps", "3", "--no-progress"],
                              "afile is a file, not a folder", "Errno"),
    "evaluate_a_file": (["evaluate", "{tmp}/afile", "--no-progress"], "afile is a file, not a run directory", "does not exist"),
    "evolve_config_is_a_directory": (["evolve", "{tmp}/cfg.yaml", "--run-dir", "{tmp}/run", "--no-progress"],
                                     "cfg.yaml' is a directory", "not found"),
    "evolve_run_dir_below_a_file": (["evolve", "--run-dir", "{tmp}/afile/run", *TINY], "nothing of this run was written", "resume"),
    "override_with_an_empty_key": (["evolve", "--run-dir", "{tmp}/run", *TINY, "strategy..pop_size=8"],
                                   "override 'strategy..pop_size=8' has an empty key", "unknown key"),
}
CREATED = ["afile", "cfg.yaml", "dir.gif", "dir.png"]  # what each case finds in its tmp_path, and must leave as it was


@pytest.mark.parametrize("name", sorted(OUTPUT_CASES))
def test_output_paths_and_arguments_one_line(tmp_path, capsys, run_dir, name):
    argv, words, absent = OUTPUT_CASES[name]
    for name in ("dir.png", "dir.gif", "cfg.yaml"):
        (tmp_path / name).mkdir()
    (tmp_path / "afile").write_text("not a folder\n")
    argv = [a.format(run=run_dir, tmp=tmp_path) for a in argv]
    rc, err = run_cli(argv, capsys)
    assert rc == 2 and err.count("\n") == 1 and "error:" in err, err
    assert words.format(tmp=tmp_path) in err, err
    assert absent is None or absent not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == CREATED  # nothing written (no figure.png, no run)
    assert (tmp_path / "afile").read_text() == "not a folder\n"


def test_os_error_line_names_the_path_and_the_errno():
    line = _os_error_line(OSError(errno.EROFS, os.strerror(errno.EROFS), "/mnt/ro/x.png"))
    assert line.startswith("cannot write or read /mnt/ro/x.png: Read-only file system (EROFS);"), line
    assert "\n" not in _os_error_line(OSError("no errno\nat all"))
    refused = _os_error_line(ConnectionRefusedError(errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED)))
    assert refused == "ConnectionRefusedError: Connection refused (ECONNREFUSED)"  # no path: no advice about paths
