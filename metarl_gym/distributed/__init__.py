"""Population evaluation and trial maps across processes and machines with Ray (the optional ``ray`` extra).

``build_backend(config)`` returns the backend of evaluation, an object with ``evaluate(params [pop, D],
generation) -> (fitness [pop], stats)`` and ``close()``: for ``distributed.backend: ray`` a
:class:`~.ray_evaluator.RayBackend`, for ``local`` a :class:`~.slices.LocalBackend`. Both evaluate through
:class:`~metarl_gym.evolution.evaluate.Evaluator` (no building or seeding of their own) and give the same fitness.
``ray_map(fn, specs, distributed_cfg)`` runs independent jobs (ER-MRL trials)
as Ray tasks; ``er_mrl_map(distributed_cfg)`` is the ER-MRL study's map function on Ray. Lost workers are replaced and their work re-run, up to ``distributed.max_failures`` per
generation / call (:mod:`metarl_gym.distributed.dispatch`).

Ray is imported only when a Ray backend is used.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import UserError
from .errors import WorkerFailureError
from .settings import DEFAULTS, resolve_distributed, slice_size_for
from .slices import LocalBackend, merge_stats, slice_bounds

RAY_MISSING = "distributed.backend: ray needs Ray; install it with `pip install 'metarl_gym[ray]'` (or `pip install 'ray>=2.9'`)"


def _require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError as error:
        raise UserError(RAY_MISSING) from error


def build_backend(config: dict[str, Any]):
    """The evaluation backend of ``config["distributed"]["backend"]`` (``local`` when there is no section).

    Args:
        config: a resolved evolve config.

    Returns:
        an object with ``evaluate(params, generation) -> (fitness, stats)`` and ``close()``.
    """
    cfg = resolve_distributed(config.get("distributed"))
    if cfg["backend"] == "local":
        return LocalBackend(config)
    _require_ray()
    from .ray_evaluator import RayBackend

    return RayBackend(config)


def ray_map(fn: Callable[[Any], Any], specs: list[Any], distributed_cfg: dict[str, Any] | None = None) -> list[Any]:
    """``[fn(spec) for spec in specs]`` as Ray tasks with retries (see :mod:`metarl_gym.distributed.task_map`)."""
    _require_ray()
    from .task_map import ray_map as _ray_map

    return _ray_map(fn, specs, distributed_cfg)


def er_mrl_map(distributed_cfg: dict[str, Any] | None = None):
    """The ER-MRL study's ``map_fn(fn, specs)`` on Ray (a :class:`~.task_map.RayMap`; call ``close()`` at the end)."""
    _require_ray()
    from .task_map import RayMap

    return RayMap(distributed_cfg)


__all__ = [
    "DEFAULTS",
    "LocalBackend",
    "WorkerFailureError",
    "build_backend",
    "er_mrl_map",
    "ray_map",
    "resolve_distributed",
    "merge_stats",
    "slice_bounds",
    "slice_size_for",
]
