"""CMA-ES through Nikolaus Hansen's ``cma`` package, behind the torch ask/tell interface.

References:
    Hansen & Ostermeier (2001). Completely Derandomized Self-Adaptation in Evolution Strategies.
    Evolutionary Computation 9(2). Hansen (2016). The CMA Evolution Strategy: A Tutorial. arXiv:1604.00772.
    Ros & Hansen (2008). A Simple Modification in CMA-ES Achieving Linear Time and Space Complexity
    (the diagonal variant, cma option ``CMA_diagonal``).

ER-MRL searches 2-3 log-scaled reservoir hyper-parameters with CMA-ES; the full covariance is right there,
``diagonal=True`` keeps time and memory linear in ``D`` for large genomes.

Randomness: ``cma`` draws from numpy's *global* RNG and its ``seed`` option reseeds that global RNG. Here
cma gets, through its ``randn`` option, a sampler backed by the strategy's own ``numpy.random.Generator``
(seeded from ``seed``), and ``seed=nan`` so that it never touches global state.

State: :meth:`CMAES.state_dict` holds no pickled cma object and names none of cma's classes for loading. It is
the cma object's *numeric* state, read attribute by attribute: the mean, sigma, the covariance matrix (or its
diagonal), the evolution paths, the counters, cma's fitness history, as tensors (numpy arrays, float64 kept)
and plain numbers / strings / lists / dicts, plus the PCG64 state of the sampler's generator as plain ints.
Everything loads with ``torch.load(weights_only=True)``. :meth:`CMAES.load_state_dict` builds a new
``cma.CMAEvolutionStrategy`` from the constructor's arguments and writes that state back into it, so resuming is
bit for bit (tested at pop 2 to 500, full and diagonal). What the constructor rebuilds from the arguments (the
options, the strategy parameters, the logger, the timer) is not stored.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from .base import Strategy, check_float32_scale, check_positive

if TYPE_CHECKING:
    import cma

__all__ = ["CMAES"]

# options set from the constructor's own arguments; cma_options may not override them
_RESERVED_OPTIONS = ("popsize", "seed", "randn", "CMA_diagonal")

_REBUILT = frozenset({"opts", "inopts", "inputargs", "sp", "sp0", "logger", "timer", "_tell2_args", "callbackstop"})
"""Attributes of ``CMAEvolutionStrategy`` that the constructor rebuilds from its arguments (options, strategy
parameters, logger, wall-clock timer, the arguments of the last tell kept "for the record"); not stored."""

_CORE = ("mean", "sigma", "sm.C", "sm.B", "sm.D", "dC", "D", "pc", "adapt_sigma.ps", "sigma_vec.scaling")
"""Paths in the stored cma state that must be finite (a NaN mean or covariance would poison every later
generation); the rest (cma's fitness history, best-so-far records) may hold inf / nan as cma initialises them."""

STATE_FORMAT = 2
"""Version of the CMA-ES state layout (1 was a pickled cma object, refused on load)."""


def _cma():
    """The ``cma`` package, imported on first use: it loads scipy.stats (about a second), which a run with
    another strategy never needs."""
    import cma

    return cma


class _GeneratorRandn:
    """``randn(lam, N) -> ndarray [lam, N]`` for cma's ``randn`` option, drawing from a private Generator."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def __call__(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape)


# ---------------------------------------------------------------------------------------------- state tree
# A node is a plain value (None, bool, int, float, str), a tensor (a numpy array), or a dict with a "t" tag:
#   scalar (a numpy scalar, as a 0-d tensor), list, tuple, dict (keys / values lists; "partial" when entries
#   holding code or options were left out: restored by updating the new instance's dict), range,
#   object (the attributes of a cma object, restored into the object the new cma instance holds there; for a
#   cma dict / list subclass also its "items"),
#   alias (a second reference to an array / container / object stored earlier, by its path),
#   view (an array viewing the memory of an array stored earlier: offset, shape, strides, dtype).
_PLAIN = (type(None), bool, int, float, str)


def _is_cma_object(value: Any) -> bool:
    module = type(value).__module__ or ""
    return (module == "cma" or module.startswith("cma.")) and hasattr(value, "__dict__") and not isinstance(value, type)


def _encode(value: Any, path: str, memo: dict[int, str]) -> Any:
    """Encode ``value`` (found at ``path``) as a state node; ``_SKIP`` for code and rebuilt objects."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, np.generic):
        if not isinstance(value, (np.number, np.bool_)):
            raise TypeError(f"cma state {path}: unsupported numpy scalar {type(value).__name__}")
        return {"t": "scalar", "v": torch.from_numpy(np.asarray(value).copy())}
    if callable(value) and not _is_cma_object(value) or isinstance(value, (_GeneratorRandn, _cma().CMAOptions)):
        return _SKIP  # functions, methods, classes: code, rebuilt; the generator is stored on its own
    if id(value) in memo:
        return {"t": "alias", "v": memo[id(value)]}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"cma state {path}: unsupported array dtype {value.dtype}")
        root = value
        while isinstance(root.base, np.ndarray):
            root = root.base
        memo[id(value)] = path
        if root is not value and id(root) in memo and (root.flags.c_contiguous or root.flags.f_contiguous):
            # a view of an array stored before it (cma's dC is the diagonal of C, updated in place with it)
            offset = value.__array_interface__["data"][0] - root.__array_interface__["data"][0]
            return {"t": "view", "base": memo[id(root)], "offset": offset, "shape": list(value.shape),
                    "strides": list(value.strides), "dtype": value.dtype.str}
        # the memory layout is kept (eigh gives Fortran-ordered B): BLAS rounds C- and F-ordered products
        # differently, and a resume must be bit for bit
        return torch.from_numpy(np.array(value, copy=True, order="K"))
    if type(value) is range:
        return {"t": "range", "v": [value.start, value.stop, value.step]}
    if type(value) in (list, tuple):
        memo[id(value)] = path
        items = [_encode(v, f"{path}[{i}]", memo) for i, v in enumerate(value)]
        if any(item is _SKIP or _is_object_node(item) for item in items):
            raise TypeError(f"cma state {path}: a {type(value).__name__} holding code or cma objects")
        return {"t": type(value).__name__, "v": items}
    if type(value) is dict:
        memo[id(value)] = path
        keys = list(value)
        if not all(type(k) in _PLAIN or type(k) is tuple and all(type(x) in _PLAIN for x in k) for k in keys):
            raise TypeError(f"cma state {path}: dict keys must be plain values or tuples of them")
        items = [_encode(value[k], f"{path}[{k!r}]", memo) for k in keys]
        if any(_is_object_node(item) for item in items):
            raise TypeError(f"cma state {path}: a dict holding cma objects")
        kept = [(k, v) for k, v in zip(keys, items) if v is not _SKIP]
        return {"t": "dict", "k": [{"t": "tuple", "v": list(k)} if type(k) is tuple else k for k, _ in kept],
                "v": [v for _, v in kept], "partial": len(kept) < len(keys)}
    if _is_cma_object(value):
        memo[id(value)] = path
        node = {"t": "object", "class": type(value).__name__, "v": _encode_attrs(value, path, memo)}
        if isinstance(value, (dict, list)):  # a cma dict / list subclass (solution archives): its items too
            items = _encode(dict(value) if isinstance(value, dict) else list(value), f"{path}<items>", {})
            if items.get("partial") or _is_object_node(items):
                raise TypeError(f"cma state {path}: items holding code")
            node["items"] = items
        return node
    raise TypeError(f"cma state {path}: unsupported type {type(value).__module__}.{type(value).__name__}")


def _is_object_node(node: Any) -> bool:
    """Objects are restored into the new instance's attributes only, not inside lists or dicts."""
    return isinstance(node, dict) and node.get("t") == "object"


class _Skip:
    pass


_SKIP = _Skip()


def _encode_attrs(obj: Any, path: str, memo: dict[int, str], rebuilt=frozenset()) -> dict[str, Any]:
    out = {}
    for name, value in vars(obj).items():
        if name in rebuilt:
            continue
        node = _encode(value, f"{path}.{name}" if path else name, memo)
        if node is not _SKIP:
            out[name] = node
    return out


def _decode(node: Any, path: str, memo: dict[str, Any]) -> Any:
    if isinstance(node, Tensor):
        value = np.array(node.numpy(), copy=True, order="K")
        memo[path] = value
        return value
    if not isinstance(node, dict):
        if type(node) not in _PLAIN:
            raise TypeError(f"{path}: unexpected {type(node).__name__}")
        return node
    tag = node.get("t")
    if tag == "scalar":
        return node["v"].numpy()[()]
    if tag == "alias":
        if node["v"] not in memo:
            raise TypeError(f"{path}: alias of {node['v']!r}, which is not stored before it")
        return memo[node["v"]]
    if tag == "range":
        return range(*node["v"])
    if tag == "view":
        base = memo.get(node["base"])
        if not (isinstance(base, np.ndarray) and (base.flags.c_contiguous or base.flags.f_contiguous)):
            raise TypeError(f"{path}: view of {node['base']!r}, which is not an array stored before it")
        value = np.ndarray(tuple(node["shape"]), np.dtype(node["dtype"]), buffer=base, offset=node["offset"],
                           strides=tuple(node["strides"]))
        memo[path] = value
        return value
    if tag in ("list", "tuple"):
        items: list = []
        if tag == "list":
            memo[path] = items
        items.extend(_decode(v, f"{path}[{i}]", memo) for i, v in enumerate(node["v"]))
        if tag == "tuple":
            items = tuple(items)  # type: ignore[assignment]
            memo[path] = items
        return items
    if tag == "dict":
        out: dict = {}
        memo[path] = out
        for k, v in zip(node["k"], node["v"]):
            if isinstance(k, dict):  # a tuple key
                k = tuple(k["v"])
            out[k] = _decode(v, f"{path}[{k!r}]", memo)
        return out
    raise TypeError(f"{path}: unknown node tag {tag!r}")


def _restore_attrs(obj: Any, attrs: dict[str, Any], path: str, memo: dict[str, Any]) -> None:
    """Write the stored attributes ``attrs`` into ``obj`` (an object of a freshly built cma instance)."""
    memo[path] = obj
    for name, node in attrs.items():
        sub = f"{path}.{name}" if path else name
        if isinstance(node, dict) and node.get("t") == "object":
            target = getattr(obj, name, None)
            if type(target).__name__ != node["class"]:
                raise TypeError(f"{sub} is a {type(target).__name__} in this cma instance but a {node['class']} in the state")
            _restore_attrs(target, node["v"], sub, memo)
            if "items" in node:  # bypass the subclass's own __setitem__ bookkeeping: the raw items as stored
                items = _decode(node["items"], f"{sub}<items>", {})
                if isinstance(target, dict) and isinstance(items, dict):
                    dict.clear(target)
                    dict.update(target, items)
                elif isinstance(target, list) and isinstance(items, list):
                    list.__setitem__(target, slice(None), items)
                else:
                    raise TypeError(f"{sub}: stored items do not fit a {type(target).__name__}")
        elif isinstance(node, dict) and node.get("t") == "dict" and node.get("partial"):
            # a dict that also held code / options (not stored): update the new instance's dict in place
            target = getattr(obj, name, None)
            if type(target) is not dict:
                raise TypeError(f"{sub} is a {type(target).__name__} in this cma instance but a dict in the state")
            target.update(_decode(node, sub, memo))
            memo[sub] = target
        else:
            setattr(obj, name, _decode(node, sub, memo))


def _rekey_archives(obj: Any, seen: set[int] | None = None) -> None:
    """Re-key cma's solution archives for this process.

    cma keys its archives of sent solutions by ``hash(x.tobytes())``, and Python salts bytes hashes per process
    (PYTHONHASHSEED): keys stored by another process would never match, and cma would then rebuild the genotype
    of a told solution from its phenotype (not bit for bit with bounds). Each archive keeps the array behind
    every key (``_unhashed_keys``), so the keys are recomputed here with the archive's own ``key()``.
    """
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    attrs = vars(obj)
    unhashed = attrs.get("_unhashed_keys")
    if callable(getattr(obj, "key", None)) and isinstance(unhashed, dict) and isinstance(attrs.get("data"), dict):
        new = {old: obj.key(x) for old, x in unhashed.items() if isinstance(x, np.ndarray)}
        for name in ("data", "data_with_same_key", "_unhashed_keys"):
            table = attrs.get(name)
            if isinstance(table, dict):
                rebuilt = {new.get(k, k): v for k, v in table.items()}
                table.clear()
                table.update(rebuilt)
    for value in attrs.values():
        if _is_cma_object(value) and not isinstance(value, _cma().CMAOptions):
            _rekey_archives(value, seen)


def _node(tree: dict[str, Any], path: str) -> Any:
    node: Any = {"t": "object", "v": tree}
    for part in path.split("."):
        if not (isinstance(node, dict) and node.get("t") == "object" and part in node["v"]):
            return None
        node = node["v"][part]
    return node


class CMAES(Strategy):
    """Covariance matrix adaptation evolution strategy (``cma.CMAEvolutionStrategy``).

    Args:
        num_params: dimension ``D`` of the search space.
        pop_size: ``lambda``, candidates per generation (cma option ``popsize``).
        sigma0: initial step size (> 0, small enough that samples stay within float32).
        diagonal: ``True`` keeps the covariance diagonal throughout (cma ``CMA_diagonal=True``): linear time
            and memory in ``D``, for large genomes.
        cma_options: further ``cma.CMAOptions`` (e.g. ``{"CMA_elitist": True}``); cma rejects unknown keys.
            ``popsize``, ``seed``, ``randn`` and ``CMA_diagonal`` come from the arguments above. Console
            output and log files are off (``verbose=-9``, ``verb_log=0``, ``verb_disp=0``).
        **kwargs: :class:`~metarl_gym.evolution.base.Strategy` arguments. The initial mean is ``init_params``
            ``[D]`` if given, else ``N(init_mean, init_std**2)`` per coordinate (``init_std=0``: constant).

    Non-finite fitness (and any candidate with a non-finite gene, whatever its fitness) is handed to cma (which
    minimises ``-fitness``) as a value worse than the worst finite one, so such candidates rank last; a candidate
    with a non-finite gene is told to cma as it was asked (or as the mean when it was not asked), so it cannot
    poison the mean or the covariance.
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
        check_float32_scale("sigma0", sigma0)
        cma_options = dict(cma_options or {})
        reserved = sorted(set(cma_options) & set(_RESERVED_OPTIONS))
        if reserved:
            raise ValueError(
                f"cma_options may not set {reserved}: use pop_size, seed and diagonal=True/False instead"
            )
        self.sigma0 = float(sigma0)
        self.diagonal = bool(diagonal)
        self.cma_options = cma_options
        self._x0 = self._initial_center().double().cpu().numpy()
        self.es = self._new_es()
        # float64 candidates of the last ask(): told back to cma as they were sampled (not float32-rounded)
        self._pending: Tensor | None = None

    def _new_es(self) -> "cma.CMAEvolutionStrategy":
        """A new cma instance from the constructor's arguments, with its own generator (``self._randn_source``)."""
        self._randn_source = _GeneratorRandn(self.seed)
        options = {
            "verbose": -9,
            "verb_log": 0,
            "verb_disp": 0,
            "signals_filename": "",  # no polling for a cma_signals.in file
            **self.cma_options,
            "popsize": self.pop_size,
            "seed": np.nan,  # "do nothing": cma would otherwise reseed numpy's global RNG
            "randn": self._randn_source,
            "CMA_diagonal": True if self.diagonal else 0,
        }
        try:
            return _cma().CMAEvolutionStrategy(self._x0, self.sigma0, options)
        except ValueError as err:  # unknown or invalid cma option
            raise ValueError(f"invalid cma_options {self.cma_options}: {err}") from err

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
        solutions = params.double().cpu()
        finite_rows = torch.isfinite(solutions).all(dim=1)
        pending = self._pending
        if pending is not None:
            # rows told as asked go back in float64 (not float32-rounded); a row with a non-finite gene (ranked
            # last by Strategy.tell) is told as it was asked: a real sample of the distribution
            asked = (pending.float() == params.cpu()).all(dim=1) | ~finite_rows
            solutions = torch.where(asked[:, None], pending, solutions)
        else:
            solutions = torch.where(finite_rows[:, None], solutions, torch.from_numpy(np.array(self.es.mean)))
        loss = -fitness.double().cpu().numpy()  # cma minimises
        finite = np.isfinite(loss)
        if finite.any():
            worst, best = loss[finite].max(), loss[finite].min()
            loss[~finite] = worst + max(1.0, worst - best)
        else:
            loss[:] = 0.0
        self.es.tell(list(solutions.numpy()), loss.tolist())
        self._pending = None
        return {"sigma": self.sigma}

    # ------------------------------------------------------------------ state
    def _extra_state(self) -> dict[str, Any]:
        try:
            tree = _encode_attrs(self.es, "", {}, _REBUILT)
        except TypeError as err:  # a cma version whose state holds a type this encoder does not know
            raise UserError(f"cannot store the CMA-ES state of cma {_cma().__version__}: {err}") from None
        return {
            "format": STATE_FORMAT,
            "cma_version": _cma().__version__,
            "cma": tree,
            "randn": self._randn_source.rng.bit_generator.state,
            "pending": None if self._pending is None else self._pending.clone(),
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        if "cma_es" in state or state.get("format") != STATE_FORMAT:
            raise UserError(
                "this CMA-ES state was written by an older metarl_gym (a pickled cma object, format 1), which is "
                "no longer loaded; start a new run"
            )
        es = self._new_es()
        try:
            _restore_attrs(es, state["cma"], "", {})
            _rekey_archives(es)
            if not hasattr(es, "timer"):  # cma's wall-clock timer, made by the first ask (not state)
                es.timer = _cma().utilities.utils.ElapsedWCTime()
            self._randn_source.rng.bit_generator.state = state["randn"]
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise UserError(
                f"the CMA-ES state does not fit cma {_cma().__version__} (it was written with cma "
                f"{state.get('cma_version')!r}) or this strategy's arguments: {err}"
            ) from None
        self.es = es
        pending = state["pending"]
        self._pending = None if pending is None else pending.cpu().double().clone()

    def _nonfinite_state(self, state: dict[str, Any]) -> list[str]:
        bad = super()._nonfinite_state(state)
        pending = state.get("pending")
        if isinstance(pending, Tensor) and not bool(torch.isfinite(pending).all()):
            bad.append("pending")
        tree = state.get("cma")
        if isinstance(tree, dict):
            for path in _CORE:
                node = _node(tree, path)
                if isinstance(node, dict) and node.get("t") == "scalar":
                    node = node["v"]
                if isinstance(node, Tensor) and node.is_floating_point() and not bool(torch.isfinite(node).all()):
                    bad.append(f"cma.{path}")
                elif isinstance(node, float) and not math.isfinite(node):
                    bad.append(f"cma.{path}")
        return bad
