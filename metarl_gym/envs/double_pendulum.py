"""MetaRL/DoublePendulum-v0: the MetaRL seed's double pendulum with exact Lagrangian dynamics."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from .base import TorchVectorEnv
from .limits import NONNEGATIVE, POSITIVE
from .pendulum import _check_common, height_reward, rk4, wrap_angle
from .rendering import draw_chain


class DoublePendulum(TorchVectorEnv):
    """## Description
    The double pendulum of the MetaRL seed (ASFaust/MetaRL, environments/DoublePendulum.py): two point masses
    m1, m2 on massless rods l1, l2, both angles absolute (θ = 0 hangs down), a torque on joint 1 (the pivot).
    Deliberate difference from the seed: the seed adds the torque inside the numerator of the myphysicslab
    equations ("dynamics slightly off"); here the equations of motion are the exact Lagrangian ones with the
    torque as the generalised force on θ1, so with zero damping and zero torque the total energy is conserved.

    ## Action Space
    ``Box(-1, 1, (1,), float32)``: torque on joint 1 as a fraction of ``max_torque`` (clipped to [-1, 1]).

    ## Observation Space
    ``Box(-[1, 1, 10, 1, 1, 10], [1, 1, 10, 1, 1, 10], (6,), float32)``:
    ``[sin θ1, cos θ1, ω1, sin θ2, cos θ2, ω2]``.

    ## Physical State
    ``state_names = ("theta1", "omega1", "theta2", "omega2")``. With Δ = θ1 - θ2, the mass matrix
    ``[[(m1+m2)l1², m2 l1 l2 cos Δ], [m2 l1 l2 cos Δ, m2 l2²]]`` times ``[α1, α2]`` equals
    ``[τ - m2 l1 l2 sin Δ ω2² - (m1+m2) g l1 sin θ1,  m2 l1 l2 sin Δ ω1² - m2 g l2 sin θ2]``; damping then
    subtracts ``damping·ω`` from each angular acceleration (as in the seed). RK4, θ wrapped, ω clamped to ±10.

    ## Torque strength compared with the seed
    Solving the system above, a torque τ gives joint 1 the angular acceleration
    ``∂α1/∂τ = 1 / (l1² (m1 + m2 sin²Δ))`` and also pushes joint 2, ``∂α2/∂τ = -cos Δ / (l1 l2 (m1 + m2 sin²Δ))``
    (the exact Lagrangian coupling). The seed adds τ to the numerator of its α1 over ``l1·den`` with
    ``den = 2m1 + m2 - m2 cos 2Δ = 2 (m1 + m2 sin²Δ)``, so there ``∂α1/∂τ = 1 / (2 l1 (m1 + m2 sin²Δ))`` and joint 2
    gets nothing. Per unit torque we therefore give ``2 / l1`` times the seed's joint-1 acceleration in every
    configuration: exactly 2x at the default ``l1 = 1``. The seed's torque is ``actor_force · action``; the same
    joint-1 acceleration per action here needs ``max_torque = actor_force · l1 / 2``
    (:meth:`seed_matched_max_torque`): **0.5** for the seed's base config (``actor_force: 1``, l1 = 1), 2.5 for
    its test config (``actor_force: 5``). The default ``max_torque=1.0`` is twice the seed's strength on joint 1.

    ## Rewards
    ``"height"``: (1 - cos θ1) + (1 - cos θ2), in [0, 4]; ``"height_delta"``: its change per step, negative
    changes multiplied by 1.1.

    ## Starting State
    Both links upright and at rest, plus U(-init_noise, init_noise) on every state entry.

    ## Episode End
    Never terminates; truncated after 2,000 steps.

    ## Arguments
    ``num_envs``, ``reward_type``, ``max_torque=1.0`` (0.5 matches the seed's base config, see above),
    ``dt=0.05``, ``init_noise=0.05``, task parameters ``l1=1.0, l2=1.0, m1=1.0, m2=1.0, g=9.81, damping=0.1`` and
    ``task_ranges``, ``device``, ``dtype``, ``max_episode_steps``, ``autoreset_mode``, ``render_mode``.
    """

    state_names = ("theta1", "omega1", "theta2", "omega2")
    task_defaults = {"l1": 1.0, "l2": 1.0, "m1": 1.0, "m2": 1.0, "g": 9.81, "damping": 0.1}
    task_limits = {"l1": POSITIVE, "l2": POSITIVE, "m1": POSITIVE, "m2": POSITIVE, "g": NONNEGATIVE, "damping": NONNEGATIVE}
    velocity_indices = (2, 5)
    max_speed = 10.0

    def __init__(
        self,
        num_envs: int = 1,
        *,
        reward_type: str = "height",
        max_torque: float = 1.0,
        dt: float = 0.05,
        init_noise: float = 0.05,
        l1: float = 1.0,
        l2: float = 1.0,
        m1: float = 1.0,
        m2: float = 1.0,
        g: float = 9.81,
        damping: float = 0.1,
        **kwargs,
    ):
        _check_common(reward_type, dt, init_noise, max_torque)
        self.reward_type, self.max_torque, self.dt, self.init_noise = reward_type, float(max_torque), float(dt), float(init_noise)
        high = np.array([1.0, 1.0, self.max_speed] * 2, dtype=np.float32)
        super().__init__(
            num_envs,
            gym.spaces.Box(-high, high, dtype=np.float32),
            gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32),
            tasks={"l1": l1, "l2": l2, "m1": m1, "m2": m2, "g": g, "damping": damping},
            **kwargs,
        )
        self._upright = torch.tensor([math.pi, 0.0, math.pi, 0.0], device=self.device, dtype=self.dtype)

    @staticmethod
    def seed_matched_max_torque(actor_force: float = 1.0, l1: float = 1.0) -> float:
        """The ``max_torque`` whose joint-1 angular acceleration per unit action equals the MetaRL seed's with
        ``actor_force`` (the seed's config key): ``actor_force · l1 / 2`` (see the env card)."""
        return float(actor_force) * float(l1) / 2.0

    @staticmethod
    def _derivative(xp, s: tuple, p: dict, torque) -> tuple:
        th1, w1, th2, w2 = s
        l1, l2, m1, m2, g = (p[k] for k in ("l1", "l2", "m1", "m2", "g"))
        delta = th1 - th2
        cos_d, sin_d = xp.cos(delta), xp.sin(delta)
        m11 = (m1 + m2) * l1 * l1
        m12 = m2 * l1 * l2 * cos_d
        m22 = m2 * l2 * l2
        r1 = torque - m2 * l1 * l2 * sin_d * w2 * w2 - (m1 + m2) * g * l1 * xp.sin(th1)
        r2 = m2 * l1 * l2 * sin_d * w1 * w1 - m2 * g * l2 * xp.sin(th2)
        det = m11 * m22 - m12 * m12
        damping = p["damping"]
        a1 = (m22 * r1 - m12 * r2) / det - damping * w1
        a2 = (m11 * r2 - m12 * r1) / det - damping * w2
        return w1, a1, w2, a2

    @staticmethod
    def _height(xp, s: tuple):
        return (1 - xp.cos(s[0])) + (1 - xp.cos(s[2]))

    def _start_state(self, keys: Tensor) -> Tensor:
        noise = (self.start_uniform(keys, 4) * 2 - 1) * self.init_noise
        return noise + self._upright

    def dynamics(self, xp, s: tuple, p: dict, a) -> tuple[tuple, Any, Any]:
        torque = xp.clip(a[0], -1.0, 1.0) * self.max_torque
        previous_height = self._height(xp, s)
        th1, w1, th2, w2 = rk4(lambda x: self._derivative(xp, x, p, torque), s, self.dt)
        speed = self.max_speed
        s = (wrap_angle(xp, th1), xp.clip(w1, -speed, speed), wrap_angle(xp, th2), xp.clip(w2, -speed, speed))
        height = self._height(xp, s)
        rewards = height_reward(xp, height, previous_height, self.reward_type)
        return s, rewards, xp.zeros_like(height, dtype=xp.bool)

    def observation(self, xp, s: tuple) -> tuple:
        th1, w1, th2, w2 = s
        return xp.sin(th1), xp.cos(th1), w1, xp.sin(th2), xp.cos(th2), w2

    def _render_row(self, row: int) -> np.ndarray:
        th1, _, th2, _ = (float(v) for v in self.state[row])
        l1, l2 = float(self.tasks["l1"][row]), float(self.tasks["l2"][row])
        p1 = (l1 * math.sin(th1), -l1 * math.cos(th1))
        p2 = (p1[0] + l2 * math.sin(th2), p1[1] - l2 * math.cos(th2))
        return draw_chain([(0.0, 0.0), p1, p2], scale=180 / (l1 + l2), text=f"row {row}")

    def energy(self) -> Tensor:
        """Total mechanical energy ``[N]``: kinetic plus potential (zero at the pivot height)."""
        th1, w1, th2, w2 = self.state.unbind(dim=1)
        l1, l2, m1, m2, g = (self.tasks[k] for k in ("l1", "l2", "m1", "m2", "g"))
        kinetic = 0.5 * (m1 + m2) * (l1 * w1) ** 2 + 0.5 * m2 * (l2 * w2) ** 2 + m2 * l1 * l2 * w1 * w2 * torch.cos(th1 - th2)
        potential = -(m1 + m2) * g * l1 * torch.cos(th1) - m2 * g * l2 * torch.cos(th2)
        return kinetic + potential
