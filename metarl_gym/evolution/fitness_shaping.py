"""Pure fitness-shaping functions (no state, no randomness).

Every function takes a fitness vector ``[pop]`` (fitness is maximised) and returns a new tensor of the same
shape, dtype and device. They are shared by the strategies and usable on their own, in the style of evosax's
``FitnessShaper``.

References:
    Salimans, Ho, Chen, Sidor, Sutskever (2017). Evolution Strategies as a Scalable Alternative to
    Reinforcement Learning. arXiv:1703.03864 (centred ranks, L2 penalty on the candidates).
    Najarro & Risi (2020). Meta-Learning through Hebbian Plasticity in Random Networks. NeurIPS
    (centred ranks followed by standardisation).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "SHAPINGS",
    "centered_ranks",
    "l2_penalty",
    "ranks",
    "replace_nonfinite",
    "shape_fitness",
    "standardize",
]


def replace_nonfinite(fitness: Tensor, value: float | None = None) -> Tensor:
    """Replace NaN / +-inf entries.

    Args:
        fitness: ``[pop]`` fitness values.
        value: replacement; ``None`` uses the worst (smallest) finite value, or 0 when no value is finite.

    Returns:
        ``[pop]`` finite fitness values.
    """
    finite = torch.isfinite(fitness)
    if value is None:
        worst = torch.where(finite, fitness, torch.full_like(fitness, float("inf"))).min()
        # no finite value at all: every row gets the same (arbitrary) value 0
        replacement = torch.where(torch.isfinite(worst), worst, torch.zeros_like(worst))
    else:
        replacement = torch.full_like(fitness[:1], value)[0]
    return torch.where(finite, fitness, replacement)


def ranks(fitness: Tensor) -> Tensor:
    """0-based ranks (0 = smallest); tied values share their average rank, NaN counts as ``-inf``.

    Averaging ties makes shaping symmetric: a population with all-equal fitness gets all-equal ranks, so a
    rank-based update is exactly zero instead of following the row order.

    Args:
        fitness: ``[pop]`` fitness values.

    Returns:
        ``[pop]`` ranks in ``[0, pop - 1]``, same dtype as ``fitness`` (floating point).
    """
    x = torch.nan_to_num(fitness, nan=float("-inf"), posinf=float("inf"), neginf=float("-inf"))
    sorted_x, order = torch.sort(x, stable=True)
    _, inverse, counts = torch.unique_consecutive(sorted_x, return_inverse=True, return_counts=True)
    first = torch.cumsum(counts, 0) - counts  # rank of the first element of each group of ties
    group_rank = first.to(x.dtype) + (counts.to(x.dtype) - 1) / 2
    out = torch.empty_like(x)
    out[order] = group_rank[inverse]
    return out


def centered_ranks(fitness: Tensor) -> Tensor:
    """Ranks mapped linearly to ``[-0.5, 0.5]`` (Salimans et al. 2017); the best gets 0.5.

    Args:
        fitness: ``[pop]`` fitness values (NaN counts as ``-inf``).

    Returns:
        ``[pop]`` centred ranks; all zeros when ``pop == 1``.
    """
    n = fitness.shape[0]
    if n < 2:
        return torch.zeros_like(fitness)
    return ranks(fitness) / (n - 1) - 0.5


def standardize(fitness: Tensor, eps: float = 1e-8) -> Tensor:
    """``(f - mean) / std`` with the population std (numpy's default, ddof = 0).

    A zero std (all values equal) gives all zeros instead of raising, so an update from it is a no-op. The
    arithmetic is done in float64, so float32 fitness near float32's limits (returns of ``1e38``) cannot overflow
    the mean or the std into inf / NaN.

    Args:
        fitness: ``[pop]`` finite fitness values.
        eps: stds at or below this are treated as zero.

    Returns:
        ``[pop]`` standardised fitness (``fitness``' dtype, finite).
    """
    x = fitness.double() if fitness.dtype != torch.float64 and fitness.device.type != "mps" else fitness
    centred = x - x.mean()
    std = x.std(correction=0) if x.shape[0] > 1 else torch.zeros_like(x[0])
    return torch.where(std > eps, centred / std.clamp_min(eps), torch.zeros_like(centred)).to(fitness.dtype)


def l2_penalty(fitness: Tensor, params: Tensor, coeff: float) -> Tensor:
    """``fitness - coeff * mean(params**2)`` per row: the HebbianMetaLearning "weight decay" term.

    Args:
        fitness: ``[pop]`` fitness values.
        params: ``[pop, num_params]`` candidates.
        coeff: penalty coefficient (0 returns ``fitness`` unchanged).

    Returns:
        ``[pop]`` penalised fitness (non-finite entries stay non-finite).
    """
    if coeff == 0:
        return fitness
    return fitness - coeff * params.to(fitness.dtype).pow(2).mean(dim=1)


def _centered_ranks_standardize(fitness: Tensor) -> Tensor:
    return standardize(centered_ranks(fitness))


SHAPINGS = {
    "none": replace_nonfinite,
    "standardize": lambda f: standardize(replace_nonfinite(f)),
    "centered_ranks": centered_ranks,
    "centered_ranks_standardize": _centered_ranks_standardize,
}
"""Named shapings used by strategies' ``fitness_shaping=`` argument. Non-finite fitness is mapped to the
worst value (ranks: ``-inf`` is ranked last; others: replaced by the worst finite value) before shaping."""


def shape_fitness(fitness: Tensor, method: str) -> Tensor:
    """Apply the named shaping from :data:`SHAPINGS`.

    Args:
        fitness: ``[pop]`` fitness values, maximised.
        method: one of ``SHAPINGS``.

    Returns:
        ``[pop]`` shaped, finite fitness.
    """
    if method not in SHAPINGS:
        raise ValueError(f"unknown fitness shaping {method!r}; allowed: {sorted(SHAPINGS)}")
    return SHAPINGS[method](fitness)
