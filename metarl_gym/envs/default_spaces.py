"""The single-env spaces of every ``MetaRL/*`` id at its default arguments, without building the env.

What ``metarl-gym envs`` lists: building the envs would import torch (and pybullet for the Bullet ids), a second or
more for a listing. The values repeat the envs' constructors; tests/envs/test_default_spaces.py checks them against
the built envs (tests/test_import_light.py the pybullet ones).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np


def _box(high, low=None) -> gym.spaces.Box:
    high = np.asarray(high, dtype=np.float32)
    return gym.spaces.Box(-high if low is None else np.asarray(low, dtype=np.float32), high, dtype=np.float32)


def _cartpole():
    theta_threshold, x_threshold = 12 * 2 * math.pi / 360, 2.4
    return _box([x_threshold * 2, np.inf, theta_threshold * 2, np.inf]), gym.spaces.Discrete(2)


def _pendulum():
    return _box([1.0, 1.0, 10.0]), _box([1.0])


def _double_pendulum():
    return _box([1.0, 1.0, 10.0] * 2), _box([1.0])


def _pendulum_swingup():
    return _box([1.0, 1.0, 8.0]), _box([2.0])


def _slimevolley():
    return _box(np.full(12, np.finfo(np.float32).max)), gym.spaces.MultiBinary(3)


def _carracing():
    return gym.spaces.Box(0, 255, (96, 96, 3), dtype=np.uint8), _box([1.0, 1.0, 1.0], low=[-1.0, 0.0, 0.0])


_SPACES = {
    "MetaRL/CartPole-v1": _cartpole,
    "MetaRL/Pendulum-v0": _pendulum,
    "MetaRL/DoublePendulum-v0": _double_pendulum,
    "MetaRL/PendulumSwingup-v1": _pendulum_swingup,
    "MetaRL/SlimeVolley-v0": _slimevolley,
    "MetaRL/CarRacing-v0": _carracing,
}


def single_spaces(env_id: str) -> tuple[gym.Space, gym.Space] | None:
    """``(observation_space, action_space)`` of ``gym.make(env_id)`` with the registered arguments, or None for an
    id this module does not know (build the env then)."""
    from .bullet import BULLET_ENVS
    from .bullet import single_spaces as bullet_spaces

    if env_id in BULLET_ENVS:
        return bullet_spaces(env_id)
    spaces = _SPACES.get(env_id)
    return None if spaces is None else spaces()


__all__ = ["single_spaces"]
