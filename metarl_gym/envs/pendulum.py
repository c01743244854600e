"""MetaRL/Pendulum-v0: the MetaRL seed's torque-limited pendulum, batched in torch."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from .base import TorchVectorEnv
from .limits import NONNEGATIVE, POSITIVE
from .rendering import draw_chain

REWARD_TYPES = ("height", "height_delta")


def height_reward(xp, height, previous_height, reward_type: str):
    """``"height"``: the height itself; ``"height_delta"``: its change, negative changes weighted by 1.1."""
    if reward_type == "height":
        return height
    delta = height - previous_height
    return xp.where(delta < 0, 1.1 * delta, delta)


def rk4(derivative, s: tuple, dt: float) -> tuple:
    """One classic Runge-Kutta-4 step of ``d s / dt = derivative(s)``; ``s`` a tuple of state columns."""
    k1 = derivative(s)
    k2 = derivative(tuple(x + 0.5 * dt * k for x, k in zip(s, k1)))
    k3 = derivative(tuple(x + 0.5 * dt * k for x, k in zip(s, k2)))
    k4 = derivative(tuple(x + dt * k for x, k in zip(s, k3)))
    return tuple(x + dt / 6.0 * (a + 2 * b + 2 * c + d) for x, a, b, c, d in zip(s, k1, k2, k3, k4))


def wrap_angle(xp, theta):
    """Wrap to [-π, π), as the MetaRL seed does after every step."""
    return xp.remainder(theta + math.pi, 2 * math.pi) - math.pi


class Pendulum(TorchVectorEnv):
    """## Description
    The pendulum of the MetaRL seed (ASFaust/MetaRL, environments/Pendulum.py): a point mass on a massless rod,
    driven by a torque at the pivot, integrated with RK4. θ = 0 hangs down, θ = π is upright. An episode starts
    near upright and the agent must keep the mass high for 2,000 steps (100 simulated seconds).

    ## Action Space
    ``Box(-1, 1, (1,), float32)``: the torque as a fraction of ``max_torque`` (clipped to [-1, 1]).

    ## Observation Space
    ``Box([-1, -1, -10], [1, 1, 10], (3,), float32)``: ``[sin θ, cos θ, ω]``.

    ## Physical State
    ``state_names = ("theta", "omega")``. Dynamics: θ' = ω,
    ω' = -(g/l)·sin θ + torque/(m·l²) - damping·ω. After each step θ is wrapped to [-π, π) and ω is clamped
    to ±10.

    ## Rewards
    ``"height"`` (default): 1 - cos θ, in [0, 2]. ``"height_delta"``: the change of 1 - cos θ over the step,
    negative changes multiplied by 1.1 (works here, unlike in the seed).

    ## Starting State
    θ = π + U(-init_noise, init_noise), ω = U(-init_noise, init_noise). ``init_noise=0`` gives the
    deterministic upright start θ = π, ω = 0 (the seed started with ω = 1 by accident).

    ## Episode End
    Never terminates; truncated after 2,000 steps (registration ``max_episode_steps``).

    ## Arguments
    ``num_envs``, ``reward_type``, ``max_torque=1.0``, ``dt=0.05``, ``init_noise=0.05``, task parameters
    ``l=1.0, m=1.0, g=9.81, damping=0.1`` and ``task_ranges`` (see :class:`TorchVectorEnv`), ``device``,
    ``dtype``, ``max_episode_steps``, ``autoreset_mode``, ``render_mode``.
    """

    state_names = ("theta", "omega")
    task_defaults = {"l": 1.0, "m": 1.0, "g": 9.81, "damping": 0.1}
    task_limits = {"l": POSITIVE, "m": POSITIVE, "g": NONNEGATIVE, "damping": NONNEGATIVE}
    velocity_indices = (2,)
    max_speed = 10.0

    def __init__(
        self,
        num_envs: int = 1,
        *,
        reward_type: str = "height",
        max_torque: float = 1.0,
        dt: float = 0.05,
        init_noise: float = 0.05,
        l: float = 1.0,
        m: float = 1.0,
        g: float = 9.81,
        damping: float = 0.1,
        **kwargs,
    ):
        _check_common(reward_type, dt, init_noise, max_torque)
        self.reward_type, self.max_torque, self.dt, self.init_noise = reward_type, float(max_torque), float(dt), float(init_noise)
        high = np.array([1.0, 1.0, self.max_speed], dtype=np.float32)
        super().__init__(
            num_envs,
            gym.spaces.Box(-high, high, dtype=np.float32),
            gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32),
            tasks={"l": l, "m": m, "g": g, "damping": damping},
            **kwargs,
        )
        self._upright = torch.tensor([math.pi, 0.0], device=self.device, dtype=self.dtype)  # cached: no copy per reset

    @staticmethod
    def _derivative(xp, s: tuple, p: dict, torque) -> tuple:
        theta, omega = s
        l, m, g, damping = p["l"], p["m"], p["g"], p["damping"]
        alpha = -(g / l) * xp.sin(theta) + torque / (m * l * l) - damping * omega
        return omega, alpha

    def _start_state(self, keys: Tensor) -> Tensor:
        noise = (self.start_uniform(keys, 2) * 2 - 1) * self.init_noise
        return noise + self._upright

    def dynamics(self, xp, s: tuple, p: dict, a) -> tuple[tuple, Any, Any]:
        torque = xp.clip(a[0], -1.0, 1.0) * self.max_torque
        previous_height = 1 - xp.cos(s[0])
        theta, omega = rk4(lambda x: self._derivative(xp, x, p, torque), s, self.dt)
        s = (wrap_angle(xp, theta), xp.clip(omega, -self.max_speed, self.max_speed))
        height = 1 - xp.cos(s[0])
        rewards = height_reward(xp, height, previous_height, self.reward_type)
        return s, rewards, xp.zeros_like(height, dtype=xp.bool)

    def observation(self, xp, s: tuple) -> tuple:
        theta, omega = s
        return xp.sin(theta), xp.cos(theta), omega

    def _render_row(self, row: int) -> np.ndarray:
        theta, l = float(self.state[row, 0]), float(self.tasks["l"][row])
        return draw_chain([(0.0, 0.0), (l * math.sin(theta), -l * math.cos(theta))], scale=160 / l, text=f"row {row}")

    def energy(self) -> Tensor:
        """Total mechanical energy ``[N]`` (zero potential at the pivot height)."""
        theta, omega = self.state[:, 0], self.state[:, 1]
        l, m, g = self.tasks["l"], self.tasks["m"], self.tasks["g"]
        return 0.5 * m * (l * omega) ** 2 - m * g * l * torch.cos(theta)


def _check_common(reward_type: str, dt: float, init_noise: float, max_torque: float) -> None:
    if reward_type not in REWARD_TYPES:
        raise UserError(f"reward_type must be one of {REWARD_TYPES}, got {reward_type!r}")
    for name, value, interval in (("dt", dt, POSITIVE), ("init_noise", init_noise, NONNEGATIVE), ("max_torque", max_torque, NONNEGATIVE)):
        try:
            ok = interval.contains(float(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise UserError(f"{name} must lie in {interval.describe()}, got {value!r}")
