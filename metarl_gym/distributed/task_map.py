"""``ray_map(fn, specs, distributed_cfg)``: ``[fn(spec) for spec in specs]`` as Ray tasks, with retries.

For coarse jobs such as ER-MRL trials (one PPO run each). At most ``num_workers`` tasks run at once, each with
``num_cpus_per_worker`` / ``num_gpus_per_worker``; a task whose worker process or node was lost is run again
(up to ``max_failures`` times in one call), and results come back in the order of ``specs``. ``fn`` must be
deterministic given its spec (seeds inside the spec) for the results to equal ``list(map(fn, specs))``.
"""

from __future__ import annotations

from typing import Any, Callable

import ray

from .dispatch import run_jobs
from .ray_init import init_ray, shutdown_ray
from .settings import resolve_distributed

_REMOTE: dict[tuple, Any] = {}  # (fn, cpus, gpus) -> remote function, so fn is exported to Ray once


def ray_map(fn: Callable[[Any], Any], specs: list[Any], distributed_cfg: dict[str, Any] | None = None) -> list[Any]:
    """``[fn(spec) for spec in specs]`` computed by Ray tasks.

    Connects to Ray if this process is not yet connected (``distributed.address``; null starts a local
    instance, which stays up for later calls and stops when the process exits or on ``ray.shutdown()``).

    Args:
        fn: a picklable function (module-level) of one spec.
        specs: the specs.
        distributed_cfg: the ``distributed`` config section (defaults if None).

    Raises:
        WorkerFailureError: more than ``max_failures`` workers lost in this call.
        Exception: the exception ``fn`` raised for a spec, unchanged.
    """
    specs = list(specs)
    if not specs:
        return []
    cfg = resolve_distributed(distributed_cfg)
    init_ray(cfg)
    key = (fn, cfg["num_cpus_per_worker"], cfg["num_gpus_per_worker"])
    if key not in _REMOTE:
        _REMOTE[key] = ray.remote(fn).options(num_cpus=key[1], num_gpus=key[2], max_retries=0)
    remote = _REMOTE[key]
    slots = list(range(min(cfg["num_workers"], len(specs))))
    results, _ = run_jobs(specs, slots, lambda slot, spec: remote.remote(spec), lambda slot: slot, cfg["max_failures"], what="task")
    return results


class RayMap:
    """A ``map_fn(fn, specs) -> results`` on Ray for one study (ER-MRL trials): connects once, maps many times.

    Args:
        distributed_cfg: the ``distributed`` config section.

    :meth:`close` shuts Ray down again if this object started it.
    """

    def __init__(self, distributed_cfg: dict[str, Any] | None = None):
        self.cfg = resolve_distributed(distributed_cfg)
        self.owns_ray = init_ray(self.cfg)

    def __call__(self, fn: Callable[[Any], Any], specs: list[Any]) -> list[Any]:
        return ray_map(fn, specs, self.cfg)

    def close(self) -> None:
        if self.owns_ray:
            shutdown_ray()
        self.owns_ray = False

    def __enter__(self) -> "RayMap":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
