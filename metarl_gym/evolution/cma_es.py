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

Safe loading: the cma object's pickle is read back by :func:`safe_cma_loads`, an unpickler that resolves only
the allow-listed globals below (cma's own state classes, numpy arrays and random generators); a crafted blob
naming anything else (``os.system``, ``builtins.eval``, ...) is refused before any of it runs. ``state_dict`` checks
its own blob against the same list, so a cma upgrade that pickles a new class fails when saving, not on resume.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import cma
import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from .base import Strategy, check_positive

__all__ = ["CMAES"]

# options set from the constructor's own arguments; cma_options may not override them
_RESERVED_OPTIONS = ("popsize", "seed", "randn", "CMA_diagonal")


_SAFE_GLOBALS = frozenset({
    ("cma.boundary_handler", "BoundNone"), ("cma.boundary_handler", "BoundTransform"),
    ("cma.boundary_handler", "BoundPenalty"),
    ("cma.evolution_strategy", "CMAEvolutionStrategy"), ("cma.evolution_strategy", "_CMASolutionDict_functional"),
    ("cma.evolution_strategy", "_CMAStopDict"), ("cma.evolution_strategy", "_StopTolXStagnation"),
    ("cma.evolution_strategy", "_pass"), ("cma.logger", "CMADataLogger"),
    ("cma.optimization_tools", "BestSolution"), ("cma.options_parameters", "CMAOptions"),
    ("cma.options_parameters", "CMAParameters"), ("cma.options_parameters", "is_feasible"),
    ("cma.recombination_weights", "RecombinationWeights"), ("cma.sampler", "GaussFullSampler"),
    ("cma.sampler", "GaussStandardConstant"), ("cma.sampler", "GaussDiagonalSampler"),
    ("cma.sigma_adaptation", "CMAAdaptSigmaCSA"), ("cma.sigma_adaptation", "CMAAdaptSigmaTPA"),
    ("cma.transformations", "DiagonalDecoding"), ("cma.transformations", "GenoPheno"),
    ("cma.transformations", "RoundIntegerVariables"), ("cma.utilities.utils", "BlancClass"),
    ("cma.utilities.utils", "DictFromTagsInString"), ("cma.utilities.utils", "ElapsedWCTime"),
    ("cma.utilities.utils", "MoreToWrite"), ("cma.utilities.utils", "SolutionDict"),
    ("metarl_gym.evolution.cma_es", "_GeneratorRandn"),
    ("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.linalg", "eigh"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy.random._pcg64", "PCG64"), ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"), ("numpy.random.bit_generator", "SeedSequence"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("collections", "OrderedDict"), ("builtins", "slice"), ("builtins", "range"), ("builtins", "complex"), ("builtins", "bytearray"), ("builtins", "set"),
    ("builtins", "frozenset"),
})
"""(module, name) pairs a CMA-ES state blob may reference: the classes cma 3.x / 4.x pickles for its state."""


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allow-listed for a CMA-ES state")
        return super().find_class(module, name)


def safe_cma_loads(blob: bytes):
    """Unpickle a cma object resolving only :data:`_SAFE_GLOBALS`.

    Raises:
        UserError: the blob names another global (a crafted or foreign file) or is corrupt.
    """
    if not isinstance(blob, (bytes, bytearray)):
        raise UserError(f"CMA-ES state must be bytes, got {type(blob).__name__}; the checkpoint was not written by CMAES")
    try:
        return _AllowListUnpickler(io.BytesIO(blob)).load()
    except pickle.UnpicklingError as err:
        raise UserError(f"refusing to load the CMA-ES state: {err} (a crafted or foreign checkpoint?)") from None
    except (EOFError, ValueError, TypeError, AttributeError) as err:
        raise UserError(f"the CMA-ES state is corrupt ({err})") from None


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
        blob = pickle.dumps(self.es)
        safe_cma_loads(blob)  # fails here, at save time, if cma ever pickles a class the allow-list lacks
        return {"cma_es": blob, "pending": None if self._pending is None else self._pending.clone()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.es = safe_cma_loads(state["cma_es"])
        self._pending = None if state["pending"] is None else state["pending"].cpu().clone()
