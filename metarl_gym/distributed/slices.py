"""Population slices, the unit of distributed evaluation, and the local backend of evaluation.

A slice ``[start, stop)`` of the population is evaluated by one :class:`~metarl_gym.evolution.evaluate.Evaluator`
call (here, or on a Ray worker). Slices decide only *where* individuals are evaluated, never what they score:
individual j is keyed by (run seed, generation, j) (:func:`~metarl_gym.evolution.evaluate.generation_keys`), so
its fitness is the same under any ``slice_size``, worker count, worker order or re-run after a lost worker.
``slice_size`` bounds the rows (and memory) of one evaluation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..evolution.evaluate import Evaluator
from .settings import resolve_distributed, slice_size_for


def slice_bounds(pop: int, slice_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(pop)`` in order, each ``slice_size`` long but the last."""
    if pop < 1 or slice_size < 1:
        raise ValueError(f"need pop >= 1 and slice_size >= 1, got pop={pop}, slice_size={slice_size}")
    return [(start, min(start + slice_size, pop)) for start in range(0, pop, slice_size)]


def merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The stats of several slices as one: integer counters summed, tensors (``episode_returns``) concatenated
    in slice order, other entries taken from the first."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, int) and not isinstance(value, bool):
                out[key] = out.get(key, 0) + value
            elif isinstance(value, Tensor):
                out[key] = value if key not in out else torch.cat([out[key], value.to(out[key].device)])
            else:
                out.setdefault(key, value)
    return out


class LocalBackend:
    """Evaluation in this process, slice after slice (one slice of the whole population by default).

    Args:
        config: a resolved evolve config; ``distributed.slice_size`` bounds the individuals per rollout.
    """

    def __init__(self, config: dict[str, Any]):
        self.distributed = resolve_distributed(config.get("distributed"))
        self.evaluator = Evaluator(config)

    def evaluate(self, params: Tensor, generation: int) -> tuple[Tensor, dict[str, Any]]:
        """Fitness ``[pop]`` and stats of ``params [pop, num_params]`` at ``generation``."""
        bounds = slice_bounds(params.shape[0], slice_size_for(self.distributed, params.shape[0]))
        results = [self.evaluator.evaluate_generation(params[a:b], generation, a) for a, b in bounds]
        fitness = torch.cat([f for f, _ in results])
        stats = merge_stats([s for _, s in results])
        stats.update(slices=len(bounds), failures=0)
        return fitness, stats

    def close(self) -> None:
        self.evaluator.close()


__all__ = ["LocalBackend", "merge_stats", "slice_bounds"]
