"""`import metarl_gym` and `metarl-gym envs` load neither the optional heavy packages nor pybullet (issue 19:
`metarl-gym envs` took 3.6 s, most of it cma / scipy / matplotlib through the CLI's runner import and pybullet
to build the Bullet envs)."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest

HEAVY = ["pybullet", "stable_baselines3", "ray", "matplotlib", "cma", "scipy", "PIL", "mujoco", "pygame", "Box2D"]

CODE = """
import contextlib, io, sys
{body}
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("body", ["import metarl_gym",
                                  "from metarl_gym.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n    assert main(['envs']) == 0"],
                         ids=["import", "envs"])
def test_no_heavy_module_loaded(body):
    done = subprocess.run([sys.executable, "-c", CODE.format(body=body, heavy=HEAVY)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"loaded: {done.stdout.strip()}"


def test_bullet_spaces_without_pybullet_match_the_envs():
    pytest.importorskip("pybullet")
    from metarl_gym.envs.bullet import BULLET_ENVS, single_spaces

    for env_id in BULLET_ENVS:
        env = gym.make(env_id)
        observation_space, action_space = single_spaces(env_id)
        assert observation_space == env.observation_space and action_space == env.action_space, env_id
        env.close()
