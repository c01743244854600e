"""The metarl-gym command and evolution runs: run directories, exact resume after SIGKILL, config errors."""

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import torch
import yaml

from metarl_gym.cli import main
from metarl_gym.config import ConfigError, resolve_evolve_config
from metarl_gym.errors import UserError
from metarl_gym.evolution.runner import evolve, resume

SMALL = {
    "env": {"id": "MetaRL/CartPole-v1"},
    "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4]}},
    "strategy": {"name": "ga", "pop_size": 16, "kwargs": {"num_survivors": 4, "mutation_std": 0.3}},
    "generations": 6,
    "episodes": 2,
    "seed": 3,
}


def metrics_rows(run_dir):
    """metrics.csv rows without the wall-clock column (the one thing a resume cannot reproduce)."""
    with open(Path(run_dir) / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(f)]


def test_envs_lists_every_registered_id(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for env_id in ["MetaRL/Pendulum-v0", "MetaRL/DoublePendulum-v0", "MetaRL/CartPole-v1", "MetaRL/PendulumSwingup-v1"]:
        assert env_id in out
    assert "Box(" in out and "Discrete(2)" in out


def test_show_writes_a_gif(tmp_path):
    from PIL import Image

    out = tmp_path / "fall.gif"
    assert main(["show", "MetaRL/DoublePendulum-v0", "--out", str(out), "--steps", "20"]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames > 10  # Pillow merges identical consecutive frames


@pytest.mark.parametrize("env_id", sorted(i for i in gym.registry if i.startswith("MetaRL/")))
def test_show_gif_on_every_metarl_id(env_id, tmp_path):
    from PIL import Image

    if "Bullet" in env_id:
        pytest.importorskip("pybullet", reason="needs the bullet extra")
    out = tmp_path / "show.gif"
    assert main(["show", env_id, "--out", str(out), "--steps", "2", "--no-progress"]) == 0
    with Image.open(out) as gif:
        assert gif.size[0] > 50 and gif.size[1] > 50


@pytest.mark.parametrize("env_id", ["MetaRL/CartPole-v1", "BipedalWalker-v3", "CarRacing-v3"])
def test_show_gif_on_metarl_and_gymnasium_ids(env_id, tmp_path, capsys):
    from PIL import Image

    if not env_id.startswith("MetaRL/"):
        pytest.importorskip("Box2D", reason="needs the box2d extra: pip install -e .[box2d]")
    out = tmp_path / "show.gif"
    assert main(["show", env_id, "--out", str(out), "--steps", "3", "--policy", "random", "--no-progress"]) == 0
    assert "wrote 4 frames" in capsys.readouterr().out
    with Image.open(out) as gif:
        assert gif.n_frames >= 2


GIF_RUNS = {
    "MetaRL/CartPole-v1": {"env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 12}}},
    "BipedalWalker-v3": {"env": {"id": "BipedalWalker-v3", "kwargs": {"max_episode_steps": 12}}},
}


@pytest.mark.parametrize("env_id", sorted(GIF_RUNS))
def test_evaluate_gif_on_metarl_and_gymnasium_ids(env_id, tmp_path, capsys):
    """A Gymnasium id runs in Gymnasium's vector env, whose render() is a tuple of frames (one per row)."""
    from PIL import Image

    if not env_id.startswith("MetaRL/"):
        pytest.importorskip("Box2D", reason="needs the box2d extra: pip install -e .[box2d]")
    config = {**GIF_RUNS[env_id], "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4]}},
              "strategy": {"name": "ga", "pop_size": 4, "kwargs": {"num_survivors": 2}}, "generations": 1, "seed": 0}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    assert main(["evolve", str(path), "--run-dir", str(run), "--no-progress"]) == 0
    gif = tmp_path / "best.gif"
    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "1", "--gif", str(gif), "--json", "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["gif"] == str(gif) and result["gif_frames"] >= 2
    with Image.open(gif) as image:
        assert image.n_frames >= 2 and image.size[0] > 100 and image.size[1] > 100


def test_write_gif_refuses_frames_that_are_not_rgb_images(tmp_path):
    import numpy as np

    from metarl_gym.cli import write_gif

    good = np.zeros((8, 8, 3), np.uint8)
    for frames, match in [([], "no frames"), ([(good,)], r"frame 0 is uint8 \(1, 8, 8, 3\)"),
                          ([good, np.zeros((8, 9, 3), np.uint8)], "frame 1"), ([good.astype(float)], "frame 0 is float64")]:
        with pytest.raises(UserError, match=match):
            write_gif(frames, tmp_path / "x.gif")


def test_unknown_env_id_is_a_clear_error(tmp_path, capsys):
    assert main(["show", "MetaRL/Nope-v0", "--out", str(tmp_path / "x.gif")]) == 2
    assert "unknown env id 'MetaRL/Nope-v0'" in capsys.readouterr().err


def test_evolve_evaluate_plot(tmp_path, capsys):
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump(SMALL))
    run = tmp_path / "run"
    assert main(["evolve", str(config), "--run-dir", str(run), "--no-progress", "generations=3"]) == 0
    assert {"config.yaml", "metrics.csv", "checkpoint.pt", "best.pt"} <= {p.name for p in run.iterdir()}
    rows = metrics_rows(run)
    assert [r["generation"] for r in rows] == ["0", "1", "2"]
    assert {"best", "mean", "median", "worst", "env_steps"} <= set(rows[0])
    assert yaml.safe_load((run / "config.yaml").read_text())["generations"] == 3
    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 4 and len(result["returns"]) == 4
    assert result["mean_return"] == pytest.approx(sum(result["returns"]) / 4)
    gif = tmp_path / "best.gif"
    assert main(["evaluate", str(run), "--episodes", "1", "--gif", str(gif)]) == 0 and gif.stat().st_size > 0
    figure = tmp_path / "fig.png"
    assert main(["plot", str(run), str(run), "--out", str(figure)]) == 0 and figure.stat().st_size > 0


@pytest.mark.parametrize(
    "override, key_path",
    [
        ("strategy.name=annealing", "strategy.name"),
        ("policy.name=transformer", "policy.name"),
        ("generations=0", "generations"),
        ("population=3", "population"),
        ("env.kwarg={}", "env.kwarg"),
        ("rollout.early_stop=5", "rollout.early_stop"),
        ("rollout.fast={}", "rollout.fast"),  # removed: the error says to use rollout.engine / block_size / compile
        ("rollout.engine=fastest", "rollout.engine"),
        ("rollout.block_size=0", "rollout.block_size"),
        ("rollout.episodes=2", "rollout.episodes"),
        ("env.mask_velocity='false'", "env.mask_velocity"),
        ("policy.kwargs.hidden_sizes=16", "policy.kwargs.hidden_sizes"),
        ("policy.kwargs.hiden_sizes=[4]", "policy.kwargs.hiden_sizes"),
        ("strategy.kwargs.mutaton_std=0.1", "strategy.kwargs.mutaton_std"),
        ("seed=1180591620717411303424", "seed"),
        ("distributed.backend=spark", "distributed.backend"),
        ("distributed.num_workers=0", "distributed.num_workers"),
    ],
)
def test_config_errors_name_the_key_path(tmp_path, capsys, override, key_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(SMALL))
    assert main(["evolve", str(config), override, "--run-dir", str(tmp_path / "r"), "--no-progress"]) == 2
    assert f"config key '{key_path}'" in capsys.readouterr().err


def test_config_errors_list_allowed_values():
    with pytest.raises(ConfigError, match="allowed values: .*cma_es.*ga.*openai_es"):
        resolve_evolve_config({"strategy": {"name": "nes"}})


def test_an_existing_run_is_not_overwritten(tmp_path):
    evolve({**SMALL, "generations": 1}, tmp_path / "run", progress=False)
    with pytest.raises(UserError, match="--resume"):
        evolve(SMALL, tmp_path / "run", progress=False)


@pytest.mark.parametrize(
    "strategy",
    [
        {"name": "ga", "pop_size": 16, "kwargs": {"num_survivors": 4, "crossover": "uniform"}},
        {"name": "openai_es", "pop_size": 16, "kwargs": {"sigma": 0.1, "lr": 0.05}},
        {"name": "cma_es", "pop_size": 16, "kwargs": {"sigma0": 0.5}},
    ],
)
def test_resume_continues_exactly(tmp_path, strategy):
    config = {**SMALL, "strategy": strategy}
    evolve(config, tmp_path / "straight", progress=False)
    evolve({**config, "generations": 3}, tmp_path / "split", progress=False)
    resume(tmp_path / "split", progress=False, generations=6)
    assert metrics_rows(tmp_path / "split") == metrics_rows(tmp_path / "straight")
    a = torch.load(tmp_path / "straight" / "best.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "best.pt", weights_only=True)
    assert torch.equal(a["params"], b["params"]) and a["fitness"] == b["fitness"] and a["generation"] == b["generation"]


def test_default_evolve_config_is_valid():
    config = resolve_evolve_config({})
    assert config["env"]["id"] == "MetaRL/CartPole-v1" and config["strategy"]["name"] == "ga"


# ------------------------------------------------------------------ er-mrl
ER_MRL = {
    "envs": [{"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 20}, "mask_velocity": True}],
    "seed": 5, "device": "cpu", "workers": 1, "threads": 1,
    "reservoir": {"nb_res": 1, "units": 8},
    "search": {"generations": 2, "pop_size": 3, "sigma0": 0.3},
    "fitness": {"seeds": 1, "total_timesteps": 48, "last_episodes": 5},
    "ppo": {"num_envs": 2, "algorithm_kwargs": {"n_steps": 8, "batch_size": 16, "n_epochs": 1, "policy_kwargs": {"net_arch": [4]}}},
}

SIGTERM_AFTER_FIRST_ROW = r"""
import os, signal, sys
from metarl_gym.run_dir import RunDir
from metarl_gym.cli import main

append = RunDir.append_metrics
def append_then_sigterm(self, row, columns=None):
    append(self, row, columns)
    if row["generation"] == 0:
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would, in the middle of generation 0's writes
RunDir.append_metrics = append_then_sigterm
sys.exit(main(sys.argv[1:]))
"""


def test_er_mrl_sigterm_stops_after_the_generation_and_resume_finishes_it(tmp_path, capsys):
    """`metarl-gym er-mrl` runs on the runner's loop: SIGTERM during a generation lets it finish (row, history.json,
    checkpoint), exits 128 + 15 with the resume command; `--resume` then gives the uninterrupted study."""
    from metarl_gym.baselines.er_mrl import run_er_mrl

    run_er_mrl(ER_MRL, tmp_path / "straight", progress=False, test=False)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(ER_MRL))
    run = tmp_path / "stopped"
    result = subprocess.run([sys.executable, "-c", SIGTERM_AFTER_FIRST_ROW, "er-mrl", str(path), "--run-dir", str(run),
                             "--no-progress", "--no-test"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert result.stderr.strip() == (f"metarl-gym er-mrl: SIGTERM: stopped after generation 0 (checkpoint saved); "
                                     f"resume with `metarl-gym er-mrl --resume {run}`")
    assert len(metrics_rows(run)) == 1 and torch.load(run / "checkpoint.pt", weights_only=True)["generation"] == 1
    assert len(json.loads((run / "history.json").read_text())) == 3
    assert main(["er-mrl", "--resume", str(run), "--no-progress", "--no-test"]) == 0
    assert "fitness" in capsys.readouterr().out
    assert metrics_rows(run) == metrics_rows(tmp_path / "straight")
    assert (run / "history.json").read_text() == (tmp_path / "straight" / "history.json").read_text()
