"""CMA-ES through Nikolaus Hansen's ``cma`` package, behind the torch ask/tell interface.

References:
    Hansen & Ostermeier (2001). Completely Derandomized Self-Adaptation in Evolution Strategies.
    Evolutionary Computation 9(2). Hansen (2016). The CMA Evolution Strategy: A Tutorial. arXiv:1604.00772.
    Ros & Hansen (2008). A Simple Modification in CMA-ES Achieving Linear Time and Space Complexity
    (the diagonal variant, cma option ``CMA_diagonal``).

ER-MRL searches 2-3 log-scaled reservoir hyper-parameters with CMA-ES; the full covariance is right there,
``diagonal=True`` keeps time and memory linear in ``D`` for large genomes.

Randomness: ``cma`` draws from numpy's *global* RNG and its ``seed`` option reseeds that global RNG. Here
cma gets, through its ``randn`` option, a picklable sampler backed by the strategy's own
``numpy.random.Generator`` (seeded from ``seed``), and ``seed=nan`` so that it never touches global state.
The sampler is pickled with the cma object in :meth:`~CMAES.state_dict`, which makes resuming exact.
"""

from __future__ import annotations

import pickle
from typing import Any

import cma
import numpy as np
import torch
from torch import Tensor

from .base import Strategy, check_positive

__all__ = ["CMAES"]

# options set from the constructor's own arguments; cma_options may not override them
_RESERVED_OPTIONS = ("popsize", "seed", "randn", "CMA_diagonal")


class _GeneratorRandn:
    """``randn(lam, N) -> ndarray [lam, N]`` for cma's ``randn`` option, drawing from a private Generator.

    A module-level class (not a lambda or bound method) so that the cma object stays picklable.
    """

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def __call__(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape)


class CMAES(Strategy):
    """Covariance matrix adaptation evolution strategy (``cma.CMAEvolutionStrategy``).

    Args:
        num_params: dimension ``D`` of the search space.
        pop_size: ``lambda``, candidates per generation (cma option ``popsize``).
        sigma0: initial step size (> 0).
        diagonal: ``True`` keeps the covariance diagonal throughout (cma ``CMA_diagonal=True``): linear time
            and memory in ``D``, for large genomes.
        cma_options: further ``cma.CMAOptions`` (e.g. ``{"CMA_elitist": True}``); cma rejects unknown keys.
            ``popsize``, ``seed``, ``randn`` and ``CMA_diagonal`` come from the arguments above. Console
            output and log files are off (``verbose=-9``, ``verb_log=0``, ``verb_disp=0``).
        **kwargs: :class:`~metarl_gym.evolution.base.Strategy` arguments. The initial mean is ``init_params``
            ``[D]`` if given, else ``N(init_mean, init_std**2)`` per coordinate (``init_std=0``: constant).

    Non-finite fitness is handed to cma (which minimises ``-fitness``) as a value worse than the worst finite
    one, so such candidates rank last.
    """

    def __init__(
        self,
        num_params: int,
        *,
        pop_size: int,
        sigma0: float = 1.0,
        diagonal: bool = False,
        cma_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(num_params, pop_size=pop_size, **kwargs)
        check_positive("sigma0", sigma0)
        cma_options = dict(cma_options or {})
        reserved = sorted(set(cma_options) & set(_RESERVED_OPTIONS))
        if reserved:
            raise ValueError(
                f"cma_options may not set {reserved}: use pop_size, seed and diagonal=True/False instead"
            )
        self.sigma0 = float(sigma0)
        self.diagonal = bool(diagonal)
        options = {
            "verbose": -9,
            "verb_log": 0,
            "verb_disp": 0,
            "signals_filename": "",  # no polling for a cma_signals.in file
            **cma_options,
            "popsize": self.pop_size,
            "seed": np.nan,  # "do nothing": cma would otherwise reseed numpy's global RNG
            "randn": _GeneratorRandn(self.seed),
            "CMA_diagonal": True if self.diagonal else 0,
        }
        x0 = self._initial_center().double().cpu().numpy()
        try:
            self.es = cma.CMAEvolutionStrategy(x0, self.sigma0, options)
        except ValueError as err:  # unknown or invalid cma option
            raise ValueError(f"invalid cma_options {cma_options}: {err}") from err
        # float64 candidates of the last ask(): told back to cma as they were sampled (not float32-rounded)
        self._pending: Tensor | None = None

    @property
    def center(self) -> Tensor:
        """``[num_params]`` current mean of the search distribution."""
        return torch.as_tensor(self.es.mean, dtype=torch.float32).to(self.device)

    @property
    def sigma(self) -> float:
        """Current overall step size."""
        return float(self.es.sigma)

    def _ask(self) -> Tensor:
        self._pending = torch.from_numpy(np.stack(self.es.ask()))
        return self._pending.to(self.device, torch.float32)

    def _tell(self, params: Tensor, fitness: Tensor) -> dict[str, float]:
        pending = self._pending
        if pending is not None and torch.equal(pending.to(self.device, torch.float32), params):
            solutions = pending.numpy()
        else:  # candidates that were not asked (or were modified): tell them as given
            solutions = params.double().cpu().numpy()
        loss = -fitness.double().cpu().numpy()  # cma minimises
        finite = np.isfinite(loss)
        if finite.any():
            worst, best = loss[finite].max(), loss[finite].min()
            loss[~finite] = worst + max(1.0, worst - best)
        else:
            loss[:] = 0.0
        self.es.tell(list(solutions), loss.tolist())
        self._pending = None
        return {"sigma": self.sigma}

    def _extra_state(self) -> dict[str, Any]:
        # the pickled cma object carries its covariance, paths and the numpy Generator of its sampler
        return {"cma_es": pickle.dumps(self.es), "pending": None if self._pending is None else self._pending.clone()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.es = pickle.loads(state["cma_es"])
        self._pending = None if state["pending"] is None else state["pending"].cpu().clone()
