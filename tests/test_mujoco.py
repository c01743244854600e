"""MuJoCo (Swimmer-v5) through the generic path: rollout against a per-individual gym.make loop, and
`metarl-gym evolve` for two tiny generations (the mujoco extra; seconds)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("mujoco", reason="needs the mujoco extra: pip install -e .[mujoco]")
pytest.importorskip("Box2D", reason="the shared helpers live in test_box2d.py, which needs the box2d extra")

from test_box2d import check_mlp_rollout, run_evolve  # noqa: E402

import metarl_gym  # noqa: E402
from metarl_gym.envs import make  # noqa: E402
from metarl_gym.envs.mujoco_log import render_offscreen_without_display  # noqa: E402


def test_swimmer_mlp_rollout_equals_per_individual_loop():
    check_mlp_rollout("Swimmer-v5")


def test_evolve_swimmer_runs_two_tiny_generations(tmp_path):
    path = tmp_path / "swimmer.yaml"
    path.write_text(yaml.safe_dump({
        "env": {"id": "Swimmer-v5", "kwargs": {"max_episode_steps": 30}},
        "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [8]}},
        "strategy": {"name": "openai_es", "pop_size": 4, "kwargs": {}},
        "generations": 2,
    }))
    run_evolve(path, tmp_path, [])


# ---------------------------------------------------------------------------------------------- without a display
def test_offscreen_rendering_is_chosen_only_where_nothing_is(monkeypatch):
    for name in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "mujoco")  # as before MuJoCo's first import (this module imported it)
    make("CartPole-v1", render_mode="rgb_array").close()
    assert "MUJOCO_GL" not in os.environ  # not a MuJoCo id
    render_offscreen_without_display()
    assert os.environ["MUJOCO_GL"] == "egl"
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    render_offscreen_without_display()
    assert os.environ["MUJOCO_GL"] == "osmesa"  # the user's choice wins
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.setenv("DISPLAY", ":0")
    render_offscreen_without_display()
    assert "MUJOCO_GL" not in os.environ  # a display: MuJoCo's own default
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setitem(sys.modules, "mujoco", object())
    render_offscreen_without_display()
    assert "MUJOCO_GL" not in os.environ  # MuJoCo imported already: too late to choose, left alone


def test_show_a_mujoco_id_without_a_display(tmp_path):
    """Was ``mujoco.FatalError: an OpenGL platform library has not been loaded`` (rc 1, a 40-line traceback):
    ``envs.make`` now picks EGL for a MuJoCo id built with ``render_mode="rgb_array"`` on a machine without a display."""
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY", "PYOPENGL_PLATFORM")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(metarl_gym.__file__).parent.parent), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "metarl_gym.cli", "show", "HalfCheetah-v5", "--out", "x.gif", "--steps", "3",
                           "--no-progress"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert (tmp_path / "x.gif").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gif"]  # no MUJOCO_LOG.TXT either
