"""The ask/tell template every evolution strategy implements.

A population is a tensor ``params [pop_size, num_params]``; fitness is a tensor ``[pop_size]`` and is
**maximised**. One generation::

    params = strategy.ask()                      # [pop_size, num_params], float32, on strategy.device
    fitness = evaluate(params)                   # [pop_size], torch or numpy
    metrics = strategy.tell(params, fitness)     # {"best": ..., "mean": ..., "sigma": ...}

The public :meth:`Strategy.ask` / :meth:`Strategy.tell` do the bookkeeping (shape checks, NaN / inf
handling, metrics, generation counter, best-ever tracking); a subclass writes :meth:`Strategy._ask` and
:meth:`Strategy._tell` only, and lists the attributes that make up its state in ``_state_attrs`` so that
:meth:`Strategy.state_dict` / :meth:`Strategy.load_state_dict` resume it exactly.

Non-finite values:

* a candidate with a NaN / inf fitness, or with a NaN / inf gene whatever fitness it is given, counts as
  ``-inf``: it is never selected, never the best, and cannot move a distribution's mean;
* ``best_fitness`` is ``-inf`` (and ``best_params`` None) until a finite fitness is told, and finite from then
  on; ``best_params`` is always finite;
* a state that holds NaN or inf where a genome, a mean, a covariance or a step size belongs is refused by
  :meth:`Strategy.state_dict` (the search diverged: nothing is written) and by
  :meth:`Strategy.load_state_dict` (a damaged checkpoint: nothing is resumed), with a
  :class:`~metarl_gym.errors.UserError` naming the entries. Fitness-valued entries may hold ``-inf`` only.
* construction refuses ``init_mean`` / ``init_std`` / step sizes whose samples would overflow float32, and an
  ``init_params`` holding NaN / inf.

Strategies know nothing about envs or policies (see ``metarl_gym.evolution.rollout``).
"""

from __future__ import annotations

import copy
import inspect
import math
import secrets
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError

__all__ = ["Strategy", "check_choice", "check_float32_scale", "check_non_negative", "check_positive",
           "check_probability"]

FLOAT32_MAX = float(torch.finfo(torch.float32).max)
"""Largest finite float32 (about 3.4e38): genomes are float32."""

_SCALE_HEADROOM = 64.0
"""A step size / std may be at most ``FLOAT32_MAX / 64``: a sample ``mean + std * z`` stays finite for |z| < 32
(float32 normal draws never reach 10) and a mean of up to half the range."""


def check_choice(name: str, value: Any, allowed) -> None:
    """Raise ``ValueError`` naming the allowed values when ``value`` is not one of them."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; allowed values: {sorted(allowed)}")


def check_probability(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``0 <= value <= 1``."""
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def check_non_negative(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number ``>= 0``."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def check_positive(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number ``> 0``."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def check_float32_scale(name: str, value: float) -> None:
    """Raise :class:`UserError` when ``value`` (a std or step size of float32 genomes) is so large that
    ``mean + value * N(0, 1)`` overflows float32 (more than ``FLOAT32_MAX / 64``, about 5.3e36)."""
    if isinstance(value, (int, float)) and abs(value) > FLOAT32_MAX / _SCALE_HEADROOM:
        raise UserError(
            f"{name}={value!r} is too large: genomes are float32 (max {FLOAT32_MAX:.3g}), so samples drawn with "
            f"{name} would overflow to inf; use {name} <= {FLOAT32_MAX / _SCALE_HEADROOM:.3g} (typically 0.01-1)"
        )


def _nonfinite_entries(value: Any, path: str, allow_neg_inf: bool = False) -> list[str]:
    """Paths of the float tensors / floats under ``value`` holding NaN or inf (``-inf`` allowed if asked)."""
    if isinstance(value, Tensor):
        if not value.is_floating_point() or value.numel() == 0:
            return []
        bad = torch.isnan(value) | (value == float("inf")) if allow_neg_inf else ~torch.isfinite(value)
        return [path] if bool(bad.any()) else []
    if isinstance(value, float):
        ok = not math.isnan(value) and value != float("inf") if allow_neg_inf else math.isfinite(value)
        return [] if ok else [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nonfinite_entries(v, f"{path}.{k}", allow_neg_inf)]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _nonfinite_entries(v, f"{path}[{i}]", allow_neg_inf)]
    return []


def _clone(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return copy.deepcopy(value)


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, Tensor):
        return value.detach().clone().to(device)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    return copy.deepcopy(value)


class Strategy(ABC):
    """Base class of the ask/tell evolution strategies.

    Args:
        num_params: length of one genome (``D``).
        pop_size: number of candidates per generation (``>= 2``).
        seed: seed of the strategy's own ``torch.Generator`` (a random one when ``None``). Everything random
            goes through it, so the same seed gives the same run (bit for bit on CPU).
        device: torch device of the population (default: ``init_params``' device, else torch's default device).
        init_mean: mean of the random initialisation.
        init_std: std of the random initialisation (``>= 0``; 0 gives a constant start).
        init_params: explicit start: a centre ``[num_params]`` (ES / CMA-ES) or a population
            ``[pop_size, num_params]`` or ``[num_params]`` (GA). Overrides ``init_mean``.
        **kwargs: unknown keyword arguments raise ``TypeError`` listing the accepted ones.

    Attributes:
        generation: number of :meth:`tell` calls so far.
        best_fitness: best finite fitness ever told: ``-inf`` until a candidate with finite genes scores a finite
            fitness, finite from then on (never NaN or ``+inf``). Check ``math.isfinite(best_fitness)`` (or
            ``best_params is not None``) before storing a "best".
        best_params: ``[num_params]`` finite candidate that achieved ``best_fitness`` (``None`` exactly while
            ``best_fitness`` is ``-inf``).
    """

    #: names of the subclass attributes saved by :meth:`state_dict` (tensors, numbers, strings, None, dicts)
    _state_attrs: tuple[str, ...] = ()
    #: those of ``_state_attrs`` that hold fitness values: ``-inf`` (a non-finite candidate) is allowed there
    _fitness_attrs: tuple[str, ...] = ()

    def __init__(
        self,
        num_params: int,
        *,
        pop_size: int,
        seed: int | None = None,
        device: torch.device | str | None = None,
        init_mean: float = 0.0,
        init_std: float = 1.0,
        init_params: Tensor | np.ndarray | None = None,
        **kwargs: Any,
    ):
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {sorted(kwargs)}; "
                f"accepted: {self._accepted_kwargs()}"
            )
        if isinstance(num_params, bool) or not isinstance(num_params, (int, np.integer)) or num_params < 1:
            raise ValueError(f"num_params must be an int >= 1, got {num_params!r}")
        if isinstance(pop_size, bool) or not isinstance(pop_size, (int, np.integer)) or pop_size < 2:
            raise ValueError(f"pop_size must be an int >= 2, got {pop_size!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        if not (isinstance(init_mean, (int, float)) and math.isfinite(init_mean)):
            raise ValueError(f"init_mean must be a finite number, got {init_mean!r}")
        if abs(init_mean) > FLOAT32_MAX / 2:
            raise UserError(f"init_mean={init_mean!r} is too large: genomes are float32 (max {FLOAT32_MAX:.3g}); "
                            f"use |init_mean| <= {FLOAT32_MAX / 2:.3g}")
        check_non_negative("init_std", init_std)
        check_float32_scale("init_std", init_std)

        self.num_params = int(num_params)
        self.pop_size = int(pop_size)
        # a random seed is drawn without touching torch's / numpy's global RNGs
        self.seed = int(seed) if seed is not None else secrets.randbits(63)
        if device is None:
            device = init_params.device if isinstance(init_params, Tensor) else torch.empty(0).device
        self.device = torch.device(device)
        self.init_mean = float(init_mean)
        self.init_std = float(init_std)
        self.init_params = None
        if init_params is not None:
            self.init_params = torch.as_tensor(init_params).detach().to(self.device, torch.float32)
            if not bool(torch.isfinite(self.init_params).all()):
                raise UserError("init_params holds NaN or inf (or values beyond float32's range); pass finite "
                                "float32 values")
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self.seed)

        self.generation = 0
        self.best_fitness = float("-inf")
        self.best_params: Tensor | None = None

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _ask(self) -> Tensor:
        """Return the candidates ``[pop_size, num_params]`` (float32, on ``self.device``)."""

    @abstractmethod
    def _tell(self, params: Tensor, fitness: Tensor) -> dict[str, float]:
        """Update from ``params [pop_size, num_params]`` and ``fitness [pop_size]`` (non-finite -> ``-inf``).

        Returns:
            strategy scalars for the metrics (sigma, lr, ...).
        """

    def _extra_state(self) -> dict[str, Any]:
        """State that is not a plain attribute (override together with :meth:`_load_extra_state`)."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_extra_state` returned."""

    # ------------------------------------------------------------------ public API
    @property
    def center(self) -> Tensor | None:
        """``[num_params]`` mean of the search distribution (ES / CMA-ES), ``None`` for population methods."""
        return None

    def ask(self) -> Tensor:
        """Candidates of the current generation.

        Returns:
            ``[pop_size, num_params]`` float32 tensor on ``self.device``.
        """
        params = self._ask()
        assert params.shape == (self.pop_size, self.num_params), params.shape
        return params

    def tell(self, params: Tensor | np.ndarray, fitness: Tensor | np.ndarray) -> dict[str, float]:
        """Update the strategy with the evaluated candidates.

        Args:
            params: ``[pop_size, num_params]`` the candidates returned by :meth:`ask`.
            fitness: ``[pop_size]`` their fitness (maximised; torch, numpy or a list). NaN and +-inf are
                treated as ``-inf``: such a candidate is never selected and never the best. So is a candidate
                whose params hold NaN / inf, whatever its fitness.

        Returns:
            metrics: ``generation``, ``best``, ``mean``, ``median``, ``worst`` (over the finite fitness values;
            NaN when none is finite), ``num_nonfinite``, ``best_ever`` and the strategy's scalars.

        Raises:
            ValueError: when a shape is wrong.
        """
        params = torch.as_tensor(params)
        if params.shape != (self.pop_size, self.num_params):
            raise ValueError(
                f"params must have shape [pop_size, num_params] = [{self.pop_size}, {self.num_params}], "
                f"got {list(params.shape)}"
            )
        fitness = torch.as_tensor(np.asarray(fitness) if not isinstance(fitness, Tensor) else fitness)
        if fitness.shape != (self.pop_size,):
            raise ValueError(
                f"fitness must have shape [pop_size] = [{self.pop_size}], got {list(fitness.shape)}; "
                "pass one scalar fitness per candidate (e.g. fitness.reshape(-1) or a mean over episodes)"
            )
        params = params.detach().to(self.device, torch.float32)
        fitness = fitness.detach().to(self.device, torch.float32)
        # a candidate with a non-finite gene is -inf whatever fitness it was given
        finite = torch.isfinite(fitness) & torch.isfinite(params).all(dim=1)
        fitness = torch.where(finite, fitness, torch.full_like(fitness, float("-inf")))

        metrics = self._summary(fitness, finite)
        if finite.any():
            best_idx = int(torch.argmax(fitness))
            # Ties go to the newer candidate: with capped returns (CartPole's 500) a later one that
            # matched the best after more selection is the more robust choice.
            if metrics["best"] >= self.best_fitness:
                self.best_fitness = metrics["best"]
                self.best_params = params[best_idx].clone()
        metrics.update({k: float(v) for k, v in self._tell(params, fitness).items()})
        self.generation += 1
        metrics["generation"] = float(self.generation)
        metrics["best_ever"] = self.best_fitness
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (generator state included); safe for ``torch.save`` and loadable
        with ``torch.load(weights_only=True)``.

        Raises:
            UserError: the state holds NaN / inf where a genome, mean, covariance or step size belongs (the
                search diverged, e.g. a learning rate or step size too large); nothing should be saved.
        """
        state = {k: _clone(getattr(self, k)) for k in self._state_attrs}
        state.update(self._extra_state())
        bad = self._nonfinite_state(state) + self._nonfinite_best(self.best_fitness, self.best_params)
        if bad:
            raise UserError(
                f"{type(self).__name__} state at generation {self.generation} holds NaN / inf in {bad}: the search "
                "diverged (try a smaller learning rate / step size); refusing to save it, the last saved state is kept"
            )
        return {
            "strategy": type(self).__name__,
            "num_params": self.num_params,
            "pop_size": self.pop_size,
            "seed": self.seed,
            "generation": self.generation,
            "rng_state": self.generator.get_state(),
            "best_fitness": self.best_fitness,
            "best_params": _clone(self.best_params),
            "strategy_state": state,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output into a strategy built with the same arguments.

        Raises:
            ValueError: when the state belongs to another strategy class or problem size.
        """
        for key, mine in (("strategy", type(self).__name__), ("num_params", self.num_params),
                          ("pop_size", self.pop_size)):
            if state_dict.get(key) != mine:
                raise ValueError(
                    f"state_dict has {key}={state_dict.get(key)!r} but this strategy has {key}={mine!r}; "
                    "build the strategy with the same class and arguments before loading"
                )
        state = state_dict["strategy_state"]
        bad = self._nonfinite_state(state) + self._nonfinite_best(state_dict["best_fitness"], state_dict["best_params"])
        if bad:
            raise UserError(
                f"the stored {type(self).__name__} state holds NaN / inf in {bad}; refusing to resume from a damaged "
                "state: restore the checkpoint from a copy or start a new run"
            )
        self.seed = int(state_dict["seed"])
        self.generation = int(state_dict["generation"])
        self.generator.set_state(state_dict["rng_state"].cpu())
        self.best_fitness = float(state_dict["best_fitness"])
        self.best_params = _to_device(state_dict["best_params"], self.device)
        for k in self._state_attrs:
            setattr(self, k, _to_device(state[k], self.device))
        self._load_extra_state(state)

    def _nonfinite_state(self, state: dict[str, Any]) -> list[str]:
        """Keys of ``state`` (the ``strategy_state`` of :meth:`state_dict`) holding NaN / inf where they must
        not: anywhere in ``_state_attrs``, except ``-inf`` in ``_fitness_attrs``. Subclasses with other
        ``_extra_state`` entries extend it."""
        return [p for k in self._state_attrs if k in state
                for p in _nonfinite_entries(state[k], k, allow_neg_inf=k in self._fitness_attrs)]

    @staticmethod
    def _nonfinite_best(best_fitness: Any, best_params: Any) -> list[str]:
        bad = []
        if not isinstance(best_fitness, (int, float)) or math.isnan(best_fitness) or best_fitness == float("inf") \
                or (best_fitness == float("-inf")) != (best_params is None):
            bad.append("best_fitness")
        if best_params is not None and _nonfinite_entries(best_params, "best_params"):
            bad.append("best_params")
        return bad

    def _check_initial(self, values: Tensor, what: str) -> None:
        """Raise :class:`UserError` if the initial ``values`` (population or mean) overflowed float32."""
        if not bool(torch.isfinite(values).all()):
            raise UserError(
                f"{type(self).__name__}: {what} holds inf (init_mean={self.init_mean!r}, init_std={self.init_std!r} "
                f"overflow float32); use a smaller init_std / init_mean"
            )

    # ------------------------------------------------------------------ helpers
    def _randn(self, *shape: int) -> Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)

    def _rand(self, *shape: int) -> Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)

    def _initial_center(self) -> Tensor:
        """``init_params`` when given, else ``N(init_mean, init_std**2)`` per coordinate: ``[num_params]``."""
        if self.init_params is not None:
            if self.init_params.shape != (self.num_params,):
                raise ValueError(
                    f"init_params must have shape [num_params] = [{self.num_params}] for "
                    f"{type(self).__name__}, got {list(self.init_params.shape)}"
                )
            return self.init_params.clone()
        center = self.init_mean + self.init_std * self._randn(self.num_params)
        self._check_initial(center, "the initial mean")
        return center

    @staticmethod
    def _summary(fitness: Tensor, finite: Tensor) -> dict[str, float]:
        values = fitness[finite]
        if values.numel() == 0:
            nan = float("nan")
            return {"best": nan, "mean": nan, "median": nan, "worst": nan,
                    "num_nonfinite": float(fitness.numel())}
        return {
            "best": float(values.max()),
            "mean": float(values.mean()),
            "median": float(torch.quantile(values, 0.5)),
            "worst": float(values.min()),
            "num_nonfinite": float(fitness.numel() - values.numel()),
        }

    @classmethod
    def _accepted_kwargs(cls) -> list[str]:
        names = set()
        for klass in cls.__mro__:
            if "__init__" in vars(klass) and issubclass(klass, Strategy):
                names |= set(inspect.signature(klass.__init__).parameters)
        return sorted(names - {"self", "kwargs", "num_params"})

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_params={self.num_params}, pop_size={self.pop_size}, "
                f"seed={self.seed}, device={self.device}, generation={self.generation})")
