"""``gym.make`` entry points of the torch-batched ids: one module-level function per id.

Each registration names its function as a string (``"metarl_gym.envs.single_envs:cartpole"``), so registering
imports nothing; calling one imports its env's module (and torch) and returns one row of the torch batch as a numpy
``gymnasium.Env`` (the class's ``single_env_class``, else :class:`~.base.TorchSingleEnv`).
"""

from __future__ import annotations

from typing import Any

from .base import TorchSingleEnv


def _single(cls: type, **kwargs: Any) -> TorchSingleEnv:
    return getattr(cls, "single_env_class", TorchSingleEnv)(cls, **kwargs)


def pendulum(**kwargs: Any) -> TorchSingleEnv:
    """``gym.make("MetaRL/Pendulum-v0")``: one :class:`~.pendulum.Pendulum`."""
    from .pendulum import Pendulum

    return _single(Pendulum, **kwargs)


def double_pendulum(**kwargs: Any) -> TorchSingleEnv:
    """``gym.make("MetaRL/DoublePendulum-v0")``: one :class:`~.double_pendulum.DoublePendulum`."""
    from .double_pendulum import DoublePendulum

    return _single(DoublePendulum, **kwargs)


def cartpole(**kwargs: Any) -> TorchSingleEnv:
    """``gym.make("MetaRL/CartPole-v1")``: one :class:`~.cartpole.CartPole`."""
    from .cartpole import CartPole

    return _single(CartPole, **kwargs)


def pendulum_swingup(**kwargs: Any) -> TorchSingleEnv:
    """``gym.make("MetaRL/PendulumSwingup-v1")``: one :class:`~.pendulum_swingup.PendulumSwingup`."""
    from .pendulum_swingup import PendulumSwingup

    return _single(PendulumSwingup, **kwargs)


def slimevolley(**kwargs: Any) -> TorchSingleEnv:
    """``gym.make("MetaRL/SlimeVolley-v0")``: one game (:class:`~.slimevolley.SlimeVolleySingle`)."""
    from .slimevolley import SlimeVolley

    return _single(SlimeVolley, **kwargs)


def carracing(**kwargs: Any) -> TorchSingleEnv:
    """``gym.make("MetaRL/CarRacing-v0")``: one :class:`~.carracing.env.CarRacing` track."""
    from .carracing.env import CarRacing

    return _single(CarRacing, **kwargs)


__all__ = ["pendulum", "double_pendulum", "cartpole", "pendulum_swingup", "slimevolley", "carracing"]
