"""MuJoCo's warnings become Python warnings: building a MuJoCo id through metarl_gym.envs.make leaves no
MUJOCO_LOG.TXT in the working directory (HalfCheetah-v5 warns under MuJoCo 3.3+)."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest

from metarl_gym.envs.mujoco_log import is_mujoco_spec

pytest.importorskip("mujoco")

CODE = """
import warnings
from metarl_gym.envs import make
from metarl_gym.envs.mujoco_log import MujocoWarning
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    env = make("HalfCheetah-v5")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()
print(sum(issubclass(w.category, MujocoWarning) for w in caught))
"""


def test_no_log_file_in_the_working_directory(tmp_path):
    done = subprocess.run([sys.executable, "-c", CODE], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == [], "MuJoCo wrote into the working directory"
    import mujoco

    if tuple(int(v) for v in mujoco.__version__.split(".")[:2]) >= (3, 3):
        assert int(done.stdout.split()[-1]) >= 1  # the settotalmass deprecation, as a Python warning


def test_mujoco_specs_are_recognised():
    assert is_mujoco_spec(gym.spec("HalfCheetah-v5")) and is_mujoco_spec(gym.spec("Ant-v5"))
    assert not is_mujoco_spec(gym.spec("CartPole-v1")) and not is_mujoco_spec(gym.spec("Pendulum-v1"))
