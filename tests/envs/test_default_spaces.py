"""The spaces `metarl-gym envs` lists without building the envs (envs.default_spaces) are the built envs' spaces."""

from __future__ import annotations

import gymnasium as gym
import pytest

import metarl_gym  # noqa: F401
from metarl_gym.envs.bullet import BULLET_ENVS
from metarl_gym.envs.default_spaces import single_spaces

IDS = sorted(i for i in gym.registry if i.startswith("MetaRL/") and i not in BULLET_ENVS)  # Bullet: test_import_light.py


@pytest.mark.parametrize("env_id", IDS)
def test_default_spaces_equal_the_built_env(env_id):
    env = gym.make(env_id)
    assert single_spaces(env_id) == (env.observation_space, env.action_space)
    env.close()


def test_unknown_id_has_no_default_spaces():
    assert single_spaces("CartPole-v1") is None
