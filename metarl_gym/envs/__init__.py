"""metarl_gym environments. Importing this module registers every ``MetaRL/*`` id with Gymnasium.

Each id has two entry points built from one class: ``gym.make(id)`` gives one numpy env
(:class:`TorchSingleEnv` over one row), ``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point",
device=...)`` gives the torch batch (:class:`TorchVectorEnv`).
"""

from functools import partial

import gymnasium as gym

from .base import TorchSingleEnv, TorchVectorEnv
from .echo_state import EchoStateNetwork
from .make import make
from .pixels import pixel_wrappers
from .reservoir import RESERVOIR_KEYS, MultiReservoirEncoder, ReservoirEncoder, ReservoirObservation
from .wrappers import MaskVelocity, MaskVelocityObservation, RecordEpisodeStatistics, ToNumpy, Trial, to_numpy, velocity_indices
from .cartpole import CartPole
from .double_pendulum import DoublePendulum
from .pendulum import Pendulum
from .pendulum_swingup import PendulumSwingup
from .slimevolley import SlimeVolley

TORCH_ENVS = {
    "MetaRL/Pendulum-v0": (Pendulum, 2000),
    "MetaRL/DoublePendulum-v0": (DoublePendulum, 2000),
    "MetaRL/CartPole-v1": (CartPole, 500),
    "MetaRL/PendulumSwingup-v1": (PendulumSwingup, 200),
    "MetaRL/SlimeVolley-v0": (SlimeVolley, 3000),
}
"""Torch-batched envs: id -> (vector class, max_episode_steps)."""


def register_envs() -> None:
    """Register every metarl_gym id (idempotent)."""
    for env_id, (cls, max_steps) in TORCH_ENVS.items():
        if env_id not in gym.registry:
            gym.register(
                env_id,
                entry_point=partial(getattr(cls, "single_env_class", TorchSingleEnv), cls),
                vector_entry_point=cls,
                max_episode_steps=max_steps,
            )


register_envs()

__all__ = [
    "make", "TorchVectorEnv", "TorchSingleEnv", "Pendulum", "DoublePendulum", "CartPole", "PendulumSwingup", "SlimeVolley", "TORCH_ENVS",
    "register_envs",
    # wrappers
    "MaskVelocity", "MaskVelocityObservation", "ToNumpy", "RecordEpisodeStatistics", "Trial", "velocity_indices", "to_numpy",
    "ReservoirEncoder", "MultiReservoirEncoder", "ReservoirObservation", "RESERVOIR_KEYS", "EchoStateNetwork",
    "pixel_wrappers",
]

from .bullet import register_bullet_envs  # noqa: E402  (pybullet locomotion ids; pybullet loads on make)

register_bullet_envs()

from .carracing import register_carracing  # noqa: E402  (MetaRL/CarRacing-v0, the CarRacing-v3 twin)

register_carracing()
