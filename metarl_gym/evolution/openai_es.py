"""OpenAI evolution strategy (Salimans et al. 2017), with the HebbianMetaLearning settings as a preset.

References:
    Salimans, Ho, Chen, Sidor, Sutskever (2017). Evolution Strategies as a Scalable Alternative to
    Reinforcement Learning. arXiv:1703.03864 (Algorithm 2, mirrored sampling, centred ranks, Adam).
    Najarro & Risi (2020). Meta-Learning through Hebbian Plasticity in Random Networks. NeurIPS, arXiv:2007.02686
    (enajx/HebbianMetaLearning ``evolution_strategy_hebb.py``: plain SGD step, lr / sigma decay, L2 penalty).

The search distribution is ``N(center, sigma**2 I)``. Each generation samples ``eps_k ~ N(0, I)`` (mirrored
pairs ``+eps, -eps`` in consecutive rows when ``antithetic``), evaluates ``center + sigma * eps_k``, shapes the
fitness into ``F_k`` and moves the centre along the gradient estimate ``g = sum_k F_k eps_k / (pop * sigma)``:
``center += lr * g`` (``optimizer="sgd"``) or an Adam ascent step on ``g``. Then, once per generation,
``lr <- max(lr * lr_decay, lr_min)`` while ``lr > lr_min`` (same for sigma).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import Strategy, check_choice, check_float32_scale, check_non_negative, check_positive
from .fitness_shaping import SHAPINGS, l2_penalty, shape_fitness

__all__ = ["OpenAIES"]

OPTIMIZERS = ("sgd", "adam")

DEFAULTS: dict[str, Any] = {
    "sigma": 0.1,
    "lr": 0.01,
    "optimizer": "adam",
    "antithetic": True,
    "fitness_shaping": "centered_ranks",
    "l2_coeff": 0.0,
    "lr_decay": 1.0,
    "lr_min": 0.0,
    "sigma_decay": 1.0,
    "sigma_min": 0.0,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_eps": 1e-8,
}
"""Defaults of the hyper-parameters (Salimans et al. style: Adam on centred ranks)."""

PRESETS: dict[str, dict[str, Any]] = {
    # HebbianMetaLearning train_hebb.py / evolution_strategy_hebb.py defaults (init N(0, 1) is the base default)
    "hebbian_seed": {
        "sigma": 0.1,
        "lr": 0.2,
        "optimizer": "sgd",
        "antithetic": True,
        "fitness_shaping": "centered_ranks_standardize",
        "l2_coeff": 0.01,
        "lr_decay": 0.995,
        "lr_min": 0.001,
        "sigma_decay": 0.999,
        "sigma_min": 0.01,
    },
}
"""Named sets of hyper-parameters; explicit arguments override them."""


class OpenAIES(Strategy):
    """OpenAI-ES with mirrored sampling, fitness shaping, SGD or Adam, decays and an L2 penalty.

    Every hyper-parameter left as ``None`` takes its value from ``preset`` (if given) and otherwise from
    :data:`DEFAULTS`.

    Args:
        num_params: dimension ``D`` of the search space.
        pop_size: candidates per generation (even when ``antithetic``).
        preset: ``None`` or a key of :data:`PRESETS` (``"hebbian_seed"``: sgd, lr 0.2 decaying by 0.995 down to
            0.001, sigma 0.1 decaying by 0.999 down to 0.01, L2 0.01, centred ranks then standardised).
        sigma: initial noise std (> 0; default 0.1).
        lr: initial learning rate (>= 0; default 0.01).
        optimizer: ``"sgd"`` (``center += lr * g``) or ``"adam"`` (default).
        antithetic: mirrored sampling; rows ``2i`` and ``2i + 1`` are ``center +- sigma * eps_i`` (default True).
        fitness_shaping: a key of :data:`~metarl_gym.evolution.fitness_shaping.SHAPINGS` (default
            ``"centered_ranks"``).
        l2_coeff: the fitness used for the update is ``fitness - l2_coeff * mean(candidate**2)`` (default 0).
        lr_decay: factor applied to ``lr`` once per generation while ``lr > lr_min`` (in ``(0, 1]``; default 1).
        lr_min: floor of ``lr`` (default 0).
        sigma_decay: factor applied to ``sigma`` once per generation while ``sigma > sigma_min`` (default 1).
        sigma_min: floor of ``sigma`` (default 0).
        adam_beta1: Adam's first-moment decay (default 0.9).
        adam_beta2: Adam's second-moment decay (default 0.999).
        adam_eps: Adam's epsilon (default 1e-8).
        **kwargs: :class:`~metarl_gym.evolution.base.Strategy` arguments. The centre starts at ``init_params``
            ``[D]`` if given, else ``N(init_mean, init_std**2)`` per coordinate (``init_std=0``: constant).
    """

    _state_attrs = ("_center", "sigma", "lr", "adam_m", "adam_v", "adam_t")

    def __init__(
        self,
        num_params: int,
        *,
        pop_size: int,
        preset: str | None = None,
        sigma: float | None = None,
        lr: float | None = None,
        optimizer: str | None = None,
        antithetic: bool | None = None,
        fitness_shaping: str | None = None,
        l2_coeff: float | None = None,
        lr_decay: float | None = None,
        lr_min: float | None = None,
        sigma_decay: float | None = None,
        sigma_min: float | None = None,
        adam_beta1: float | None = None,
        adam_beta2: float | None = None,
        adam_eps: float | None = None,
        **kwargs: Any,
    ):
        super().__init__(num_params, pop_size=pop_size, **kwargs)
        if preset is not None:
            check_choice("preset", preset, PRESETS)
        given = {
            "sigma": sigma, "lr": lr, "optimizer": optimizer, "antithetic": antithetic,
            "fitness_shaping": fitness_shaping, "l2_coeff": l2_coeff, "lr_decay": lr_decay, "lr_min": lr_min,
            "sigma_decay": sigma_decay, "sigma_min": sigma_min, "adam_beta1": adam_beta1,
            "adam_beta2": adam_beta2, "adam_eps": adam_eps,
        }
        hp = {**DEFAULTS, **PRESETS.get(preset, {}), **{k: v for k, v in given.items() if v is not None}}

        check_positive("sigma", hp["sigma"])
        check_float32_scale("sigma", hp["sigma"])
        for name in ("lr", "l2_coeff", "lr_min", "sigma_min"):
            check_non_negative(name, hp[name])
        check_positive("adam_eps", hp["adam_eps"])
        for name in ("lr_decay", "sigma_decay"):
            if not (isinstance(hp[name], (int, float)) and 0 < hp[name] <= 1):
                raise ValueError(f"{name} must be in (0, 1], got {hp[name]!r}")
        for name in ("adam_beta1", "adam_beta2"):
            if not (isinstance(hp[name], (int, float)) and 0 <= hp[name] < 1):
                raise ValueError(f"{name} must be in [0, 1), got {hp[name]!r}")
        check_choice("optimizer", hp["optimizer"], OPTIMIZERS)
        check_choice("fitness_shaping", hp["fitness_shaping"], SHAPINGS)
        if hp["antithetic"] and self.pop_size % 2:
            raise ValueError(
                f"antithetic=True needs an even pop_size (mirrored pairs), got pop_size={self.pop_size}; "
                "use an even pop_size or antithetic=False"
            )

        self.preset = preset
        self.optimizer = hp["optimizer"]
        self.antithetic = bool(hp["antithetic"])
        self.fitness_shaping = hp["fitness_shaping"]
        self.l2_coeff = float(hp["l2_coeff"])
        self.lr_decay, self.lr_min = float(hp["lr_decay"]), float(hp["lr_min"])
        self.sigma_decay, self.sigma_min = float(hp["sigma_decay"]), float(hp["sigma_min"])
        self.adam_beta1, self.adam_beta2 = float(hp["adam_beta1"]), float(hp["adam_beta2"])
        self.adam_eps = float(hp["adam_eps"])

        # state (what state_dict saves)
        self.sigma = float(hp["sigma"])
        self.lr = float(hp["lr"])
        self._center = self._initial_center()
        self.adam_m = torch.zeros_like(self._center) if self.optimizer == "adam" else None
        self.adam_v = torch.zeros_like(self._center) if self.optimizer == "adam" else None
        self.adam_t = 0

    @classmethod
    def hebbian_seed(cls, num_params: int, *, pop_size: int, **kwargs: Any) -> "OpenAIES":
        """The HebbianMetaLearning configuration; ``kwargs`` override it (see :data:`PRESETS`)."""
        return cls(num_params, pop_size=pop_size, preset="hebbian_seed", **kwargs)

    @property
    def center(self) -> Tensor:
        """``[num_params]`` current mean of the search distribution (a copy)."""
        return self._center.clone()

    def _ask(self) -> Tensor:
        if self.antithetic:
            half = self._randn(self.pop_size // 2, self.num_params)
            noise = torch.stack([half, -half], dim=1).reshape(self.pop_size, self.num_params)
        else:
            noise = self._randn(self.pop_size, self.num_params)
        return noise.mul_(self.sigma).add_(self._center)  # in place: one [pop, D] buffer

    def _tell(self, params: Tensor, fitness: Tensor) -> dict[str, float]:
        shaped = shape_fitness(l2_penalty(fitness, params, self.l2_coeff), self.fitness_shaping)
        # the noise is recovered from the candidates rather than stored: no second [pop, D] buffer. A candidate
        # with a non-finite gene (fitness -inf, see Strategy.tell) has no usable direction: it contributes nothing.
        noise = (params - self._center) / self.sigma
        noise = torch.where(torch.isfinite(params).all(dim=1, keepdim=True), noise, 0.0)
        grad = shaped @ noise / (self.pop_size * self.sigma)  # [D], an ascent direction
        if self.optimizer == "sgd":
            step = self.lr * grad
        else:
            self.adam_t += 1
            self.adam_m = self.adam_beta1 * self.adam_m + (1 - self.adam_beta1) * grad
            self.adam_v = self.adam_beta2 * self.adam_v + (1 - self.adam_beta2) * grad * grad
            m_hat = self.adam_m / (1 - self.adam_beta1 ** self.adam_t)
            v_hat = self.adam_v / (1 - self.adam_beta2 ** self.adam_t)
            step = self.lr * m_hat / (v_hat.sqrt() + self.adam_eps)
        self._center = self._center + step

        metrics = {"sigma": self.sigma, "lr": self.lr, "grad_norm": float(grad.norm()),
                   "step_norm": float(step.norm())}
        if self.lr > self.lr_min:
            self.lr = max(self.lr * self.lr_decay, self.lr_min)
        if self.sigma > self.sigma_min:
            self.sigma = max(self.sigma * self.sigma_decay, self.sigma_min)
        return metrics
