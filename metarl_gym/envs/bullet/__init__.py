"""pybullet locomotion envs on Gymnasium: MetaRL/AntBullet-v0, MetaRL/HalfCheetahBullet-v0, MetaRL/AntBulletDamaged-v0.

pybullet's own Gym envs (``pybullet_envs``) import the retired ``gym`` package; these ids re-implement its
locomotion envs on Gymnasium (see the env cards in :mod:`.locomotion`). Each id has

* ``gym.make(id)``: one numpy env over one pybullet DIRECT client (:class:`.locomotion.AntBulletEnv`, ...);
* ``gym.make_vec(id, num_envs=N)``: the registered ``vector_entry_point``, N DIRECT clients stepped in a loop in
  this process, torch tensors on ``device`` (:class:`.vector.AntBulletVectorEnv`, ...);
* ``gym.make_vec(id, num_envs=N, vectorization_mode="async")``: Gymnasium's AsyncVectorEnv, one process per env
  (numpy).

``benchmarks/bullet_throughput.py`` measures both. On the project's 2-core machine the N-client
``vector_entry_point`` was as fast at N = 1 and faster at N = 8 and 64 (e.g. 1,548 vs 1,100 env-steps/s at
N = 64), so it is the
recommended default and what ``make_vec`` picks without ``vectorization_mode``; see :mod:`.vector` for the figures.

Importing this package does not import pybullet; the entry points are strings, loaded by ``gym.make``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .robots import ANT, HALF_CHEETAH, HELD_OUT_MORPHOLOGY, OBS_CLIP

MAX_EPISODE_STEPS = 1000

BULLET_ENVS = {
    "MetaRL/AntBullet-v0": ("AntBulletEnv", "AntBulletVectorEnv", {}, 2500.0),
    "MetaRL/HalfCheetahBullet-v0": ("HalfCheetahBulletEnv", "HalfCheetahBulletVectorEnv", {}, 3000.0),
    "MetaRL/AntBulletDamaged-v0": ("AntBulletEnv", "AntBulletVectorEnv", {"morphology": HELD_OUT_MORPHOLOGY}, None),
}
"""id -> (single-env class, vector-env class, registered kwargs, reward threshold as pybullet_envs).

``MetaRL/AntBulletDamaged-v0`` is the Ant with the held-out damaged leg (``damaged_left``: the ankle of
``front_left_leg`` shortened from 0.4 to 0.1), the morphology the Hebbian paper keeps out of training.
"""


def register_bullet_envs() -> None:
    """Register the pybullet ids (idempotent)."""
    for env_id, (single, vector, kwargs, threshold) in BULLET_ENVS.items():
        if env_id not in gym.registry:
            gym.register(
                env_id,
                entry_point=f"metarl_gym.envs.bullet.locomotion:{single}",
                vector_entry_point=f"metarl_gym.envs.bullet.vector:{vector}",
                max_episode_steps=MAX_EPISODE_STEPS,
                reward_threshold=threshold,
                kwargs=dict(kwargs),
            )


ROBOTS = {"AntBulletEnv": ANT, "HalfCheetahBulletEnv": HALF_CHEETAH}
"""single-env class name -> its robot spec (read by :func:`single_spaces`)."""


def single_spaces(env_id: str) -> tuple[gym.spaces.Box, gym.spaces.Box]:
    """``(observation_space, action_space)`` of one env of a pybullet id, without importing pybullet (what
    ``metarl-gym envs`` lists; the same spaces the env builds, tested in tests/envs/test_bullet_spaces.py)."""
    robot = ROBOTS[BULLET_ENVS[env_id][0]]
    high = np.full(robot.obs_dim, OBS_CLIP, dtype=np.float32)
    act = np.ones(robot.action_dim, dtype=np.float32)
    return gym.spaces.Box(-high, high, dtype=np.float32), gym.spaces.Box(-act, act, dtype=np.float32)


__all__ = ["BULLET_ENVS", "MAX_EPISODE_STEPS", "ROBOTS", "register_bullet_envs", "single_spaces"]
