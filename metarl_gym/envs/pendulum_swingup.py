"""MetaRL/PendulumSwingup-v1: a batched torch twin of Gymnasium's Pendulum-v1."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from .base import TorchVectorEnv
from .limits import NONNEGATIVE, POSITIVE
from .pendulum import wrap_angle
from .rendering import draw_chain


class PendulumSwingup(TorchVectorEnv):
    """## Description
    Gymnasium's Pendulum-v1 (the classic swing-up) with identical dynamics, spaces, reward and time limit,
    batched in torch. θ = 0 is upright here (Gymnasium's convention, unlike MetaRL/Pendulum-v0).

    ## Action Space
    ``Box(-2, 2, (1,), float32)``: the torque, clipped to ±max_torque.

    ## Observation Space
    ``Box([-1, -1, -8], [1, 1, 8], (3,), float32)``: ``[cos θ, sin θ, θ_dot]``.

    ## Physical State
    ``state_names = ("theta", "theta_dot")`` (θ is not wrapped, as in Gymnasium).
    θ_dot ← clip(θ_dot + (3g/(2l)·sin θ + 3/(m l²)·u)·dt, ±8); θ ← θ + θ_dot·dt, with dt = 0.05.

    ## Rewards
    -(normalize(θ)² + 0.1·θ_dot² + 0.001·u²), in [-16.27, 0].

    ## Starting State
    θ uniform in [-π, π], θ_dot uniform in [-1, 1].

    ## Episode End
    Never terminates; truncated after 200 steps.

    ## Arguments
    ``num_envs``, task parameters ``g=10.0, m=1.0, l=1.0`` and ``task_ranges``, ``device``, ``dtype``,
    ``max_episode_steps``, ``autoreset_mode``, ``render_mode``.
    """

    state_names = ("theta", "theta_dot")
    task_defaults = {"g": 10.0, "m": 1.0, "l": 1.0}
    task_limits = {"g": NONNEGATIVE, "m": POSITIVE, "l": POSITIVE}
    velocity_indices = (2,)
    max_speed = 8.0
    max_torque = 2.0
    dt = 0.05

    def __init__(self, num_envs: int = 1, *, g: float = 10.0, m: float = 1.0, l: float = 1.0, **kwargs):
        high = np.array([1.0, 1.0, self.max_speed], dtype=np.float32)
        super().__init__(
            num_envs,
            gym.spaces.Box(-high, high, dtype=np.float32),
            gym.spaces.Box(-self.max_torque, self.max_torque, (1,), dtype=np.float32),
            tasks={"g": g, "m": m, "l": l},
            **kwargs,
        )
        self._scale = torch.tensor([math.pi, 1.0], device=self.device, dtype=self.dtype)  # cached: no copy per reset

    def _start_state(self, keys: Tensor) -> Tensor:
        u = self.start_uniform(keys, 2) * 2 - 1
        return u * self._scale

    def dynamics(self, xp, s: tuple, p: dict, a) -> tuple[tuple, Any, Any]:
        th, thdot = s
        g, m, l = p["g"], p["m"], p["l"]
        u = xp.clip(a[0], -self.max_torque, self.max_torque)
        costs = wrap_angle(xp, th) ** 2 + 0.1 * thdot**2 + 0.001 * u**2
        newthdot = xp.clip(thdot + (3 * g / (2 * l) * xp.sin(th) + 3.0 / (m * l**2) * u) * self.dt, -self.max_speed, self.max_speed)
        newth = th + newthdot * self.dt
        return (newth, newthdot), -costs, xp.zeros_like(costs, dtype=xp.bool)

    def observation(self, xp, s: tuple) -> tuple:
        th, thdot = s
        return xp.cos(th), xp.sin(th), thdot

    def _render_row(self, row: int) -> np.ndarray:
        th, l = float(self.state[row, 0]), float(self.tasks["l"][row])
        return draw_chain([(0.0, 0.0), (l * math.sin(th), l * math.cos(th))], scale=160 / l, text=f"row {row}")
