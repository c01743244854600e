"""MetaRL/CartPole-v1: a batched torch twin of Gymnasium's CartPole-v1."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from torch import Tensor

from .base import TorchVectorEnv
from .limits import NONNEGATIVE, POSITIVE
from .rendering import draw_cartpole


class CartPole(TorchVectorEnv):
    """## Description
    Gymnasium's CartPole-v1 (Barto, Sutton & Anderson 1983) with identical dynamics (explicit Euler,
    τ = 0.02), spaces, reward, termination and time limit, batched in torch, so the ga-openai-gym and ER-MRL
    CartPole experiments run on whole populations and stay comparable with Gymnasium's numbers.

    ## Action Space
    ``Discrete(2)``: 0 pushes the cart left, 1 pushes it right, with ``force_mag``.

    ## Observation Space
    ``Box(-[4.8, inf, 0.419, inf], [4.8, inf, 0.419, inf], (4,), float32)``: cart position, cart velocity,
    pole angle, pole angular velocity.

    ## Physical State
    ``state_names = ("x", "x_dot", "theta", "theta_dot")``, the observation itself.

    ## Rewards
    +1 for every step, including the terminating one (Gymnasium's default, ``sutton_barto_reward=False``).

    ## Starting State
    Every state entry uniform in [-0.05, 0.05].

    ## Episode End
    Terminated when |x| > 2.4 or |θ| > 12°; truncated after 500 steps.

    ## Arguments
    ``num_envs``, task parameters ``gravity=9.8, masscart=1.0, masspole=0.1, length=0.5`` (half the pole),
    ``force_mag=10.0`` and ``task_ranges``, ``device``, ``dtype``, ``max_episode_steps``, ``autoreset_mode``,
    ``render_mode``. Pass ``dtype=torch.float64`` for bit-level agreement with Gymnasium's float64 physics.
    """

    state_names = ("x", "x_dot", "theta", "theta_dot")
    task_defaults = {"gravity": 9.8, "masscart": 1.0, "masspole": 0.1, "length": 0.5, "force_mag": 10.0}
    task_limits = {"gravity": NONNEGATIVE, "masscart": POSITIVE, "masspole": POSITIVE, "length": POSITIVE, "force_mag": NONNEGATIVE}
    velocity_indices = (1, 3)
    tau = 0.02
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(
        self,
        num_envs: int = 1,
        *,
        gravity: float = 9.8,
        masscart: float = 1.0,
        masspole: float = 0.1,
        length: float = 0.5,
        force_mag: float = 10.0,
        **kwargs,
    ):
        high = np.array([self.x_threshold * 2, np.inf, self.theta_threshold * 2, np.inf], dtype=np.float32)
        super().__init__(
            num_envs,
            gym.spaces.Box(-high, high, dtype=np.float32),
            gym.spaces.Discrete(2),
            tasks={"gravity": gravity, "masscart": masscart, "masspole": masspole, "length": length, "force_mag": force_mag},
            **kwargs,
        )

    def _start_state(self, keys: Tensor) -> Tensor:
        return self.start_uniform(keys, 4) * 0.1 - 0.05

    def dynamics(self, xp, s: tuple, p: dict, a) -> tuple[tuple, Any, Any]:
        x, x_dot, theta, theta_dot = s
        gravity, masscart, masspole, length, force_mag = (p[k] for k in self.task_defaults)
        total_mass = masspole + masscart
        polemass_length = masspole * length
        force = xp.where(a == 1, force_mag, -force_mag)
        costheta, sintheta = xp.cos(theta), xp.sin(theta)
        temp = (force + polemass_length * theta_dot**2 * sintheta) / total_mass
        thetaacc = (gravity * sintheta - costheta * temp) / (length * (4.0 / 3.0 - masspole * costheta**2 / total_mass))
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        terminated = (x < -self.x_threshold) | (x > self.x_threshold) | (theta < -self.theta_threshold) | (theta > self.theta_threshold)
        return (x, x_dot, theta, theta_dot), xp.ones_like(x, dtype=xp.float32), terminated

    def observation(self, xp, s: tuple) -> tuple:
        return s  # observe() stacks the columns into a new array: never the physics state itself

    def _render_row(self, row: int) -> np.ndarray:
        x, _, theta, _ = (float(v) for v in self.state[row])
        return draw_cartpole(x, theta, pole_length=2 * float(self.tasks["length"][row]), x_threshold=self.x_threshold)
