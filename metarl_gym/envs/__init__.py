"""metarl_gym environments. Importing this module registers every ``MetaRL/*`` id with Gymnasium.

Each id has two entry points: ``gym.make(id)`` gives one numpy env (:class:`TorchSingleEnv` over one row),
``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point", device=...)`` gives the torch batch
(:class:`TorchVectorEnv`).

The ids are registered with import strings (:mod:`.registry`), and this package's classes and functions load on
first use (PEP 562 ``__getattr__``): ``import metarl_gym.envs`` imports neither torch nor pybullet, while
``from metarl_gym.envs import CartPole, make`` works as before (and imports torch then).
"""

from __future__ import annotations

import importlib
import sys
import types

from .registry import TORCH_ENVS, TorchEnv, register_envs

_LAZY = {
    "make": ".make",
    "TorchVectorEnv": ".base",
    "TorchSingleEnv": ".base",
    "EchoStateNetwork": ".echo_state",
    "pixel_wrappers": ".pixels",
    "RESERVOIR_KEYS": ".reservoir",
    "MultiReservoirEncoder": ".reservoir",
    "ReservoirEncoder": ".reservoir",
    "ReservoirObservation": ".reservoir",
    "MaskVelocity": ".wrappers",
    "MaskVelocityObservation": ".wrappers",
    "RecordEpisodeStatistics": ".wrappers",
    "ToNumpy": ".wrappers",
    "Trial": ".wrappers",
    "to_numpy": ".wrappers",
    "velocity_indices": ".wrappers",
    "CartPole": ".cartpole",
    "DoublePendulum": ".double_pendulum",
    "Pendulum": ".pendulum",
    "PendulumSwingup": ".pendulum_swingup",
    "SlimeVolley": ".slimevolley",
}
"""Public name -> the submodule defining it, imported on first access."""


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """Keeps ``metarl_gym.envs.make`` the builder function, as when it was imported eagerly: importing the submodule
    ``metarl_gym.envs.make`` (e.g. ``from metarl_gym.envs.make import torch_entry_point``) sets the package's ``make``
    attribute to that module; the function is stored instead (the module stays in ``sys.modules``)."""

    def __setattr__(self, name, value):
        if name == "make" and isinstance(value, types.ModuleType):
            value = value.make
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

register_envs()

__all__ = [
    "make", "TorchVectorEnv", "TorchSingleEnv", "Pendulum", "DoublePendulum", "CartPole", "PendulumSwingup", "SlimeVolley", "TORCH_ENVS",
    "TorchEnv", "register_envs",
    # wrappers
    "MaskVelocity", "MaskVelocityObservation", "ToNumpy", "RecordEpisodeStatistics", "Trial", "velocity_indices", "to_numpy",
    "ReservoirEncoder", "MultiReservoirEncoder", "ReservoirObservation", "RESERVOIR_KEYS", "EchoStateNetwork",
    "pixel_wrappers",
]
