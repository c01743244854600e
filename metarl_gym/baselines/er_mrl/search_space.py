"""ER-MRL's search space: per reservoir the spectral radius, leak rate and input scaling, log-scaled to [0, 1].

CMA-ES works in coordinates ``z ∈ [0, 1]^d``; coordinate ``z`` of a hyper-parameter with range ``[lo, hi]``
means ``10 ** (log10(lo) + z · (log10(hi) - log10(lo)))`` (ER-MRL's log-uniform ranges, scripts/evolve_res.py).

CMA-ES itself searches an unbounded genotype ``g``; :func:`to_unit_box` maps it into ``[0, 1]^d`` with cma's
own box transformation (``BoxConstraintsLinQuadTransformation``: the identity inside ``[0.05, 0.95]``, quadratic
near the bounds, periodic beyond), which is what cma's ``bounds`` option applies internally. Keeping the
transformation out of the strategy keeps the stored CMA-ES state to the plain sampler classes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...config.er_mrl import SEARCH_BOUNDS


def parameter_names(config: dict[str, Any]) -> list[str]:
    """Names of the searched coordinates, e.g. ``["spectral_radius_0", "leak_rate_0", "input_scaling_0"]``."""
    per_res = ["spectral_radius", "leak_rate"] + (["input_scaling"] if config["search"]["evolve_input_scaling"] else [])
    return [f"{name}_{k}" for k in range(config["reservoir"]["nb_res"]) for name in per_res]


def _box(d: int):
    from cma.transformations import BoxConstraintsLinQuadTransformation

    return BoxConstraintsLinQuadTransformation([[0.0, 1.0]] * d)


def to_unit_box(genotype: np.ndarray) -> np.ndarray:
    """CMA-ES genotype ``[d]`` (unbounded) -> coordinates ``z [d]`` in [0, 1] (float64)."""
    g = np.asarray(genotype, dtype=np.float64)
    return np.clip(np.asarray(_box(len(g))(g), dtype=np.float64), 0.0, 1.0)


def from_unit_box(z: np.ndarray) -> np.ndarray:
    """Coordinates ``z [d]`` in [0, 1] -> a genotype that :func:`to_unit_box` maps back to ``z``."""
    z = np.asarray(z, dtype=np.float64)
    return np.asarray(_box(len(z)).inverse(z), dtype=np.float64)


def decode(z: np.ndarray, config: dict[str, Any]) -> dict[str, float]:
    """CMA-ES coordinates ``z [d]`` (clipped to [0, 1]) -> hyper-parameters, log-uniform within the bounds."""
    values = {}
    for name, zi in zip(parameter_names(config), np.clip(np.asarray(z, dtype=np.float64), 0.0, 1.0)):
        lo, hi = SEARCH_BOUNDS[name.rsplit("_", 1)[0]]
        values[name] = float(10 ** (math.log10(lo) + zi * (math.log10(hi) - math.log10(lo))))
    return values


def encode(values: dict[str, float | None], config: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`decode`: ``[d]`` float64. Keys may be plain names (``spectral_radius``: every
    reservoir) or per reservoir (``spectral_radius_1``); a missing or None value is the centre 0.5."""
    z = []
    for name in parameter_names(config):
        base = name.rsplit("_", 1)[0]
        lo, hi = SEARCH_BOUNDS[base]
        value = values.get(name, values.get(base))
        z.append(0.5 if value is None else (math.log10(value) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))
    return np.asarray(z, dtype=np.float64)


def reservoir_config(params: dict[str, float], config: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters -> a ``reservoir`` option of :func:`metarl_gym.envs.make` (MultiReservoirEncoder
    arguments; the reservoir seed is added per run)."""
    r = config["reservoir"]
    reservoirs = []
    for k in range(r["nb_res"]):
        reservoirs.append(
            {
                "units": r["units"],
                "spectral_radius": params[f"spectral_radius_{k}"],
                "leak_rate": params[f"leak_rate_{k}"],
                "input_scaling": params.get(f"input_scaling_{k}", config["search"]["input_scaling"]),
                "rc_connectivity": r["rc_connectivity"],
                "input_connectivity": r["input_connectivity"],
                "bias_scaling": r["bias_scaling"],
            }
        )
    return {"reservoirs": reservoirs, "use_action": r["use_action"], "use_reward": r["use_reward"], "skip_connection": r["skip_connection"]}
