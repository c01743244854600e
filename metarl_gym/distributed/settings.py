"""The ``distributed:`` config section as the backends read it (ray is not imported here).

::

    distributed:
      backend: local        # local | ray
      address: null         # null: start a local Ray (laptop); "auto": the cluster of `ray start`; "ray://host:10001"
      num_workers: 2        # Ray actors, each holding its own env batch and policy
      num_cpus_per_worker: 1
      num_gpus_per_worker: 0
      max_failures: 3       # lost workers tolerated per generation (per ray_map call); one more stops the run
      slice_size: null      # individuals per slice (fixes the random draws); null: pop (local), ceil(pop / num_workers) (ray)
      connect_timeout_s: 30 # most seconds to wait for the cluster at `address` (then one line, exit 2);
                            # workers not placed by then are announced on stderr, then awaited
"""

from __future__ import annotations

import math
from typing import Any

from ..config.base import validate
from ..config.sections import DistributedSection

DEFAULTS: dict[str, Any] = validate(DistributedSection, {})
"""Every key's default (the section of :mod:`metarl_gym.config.sections`)."""


def resolve_distributed(section: dict[str, Any] | None) -> dict[str, Any]:
    """``section`` with every default filled in, checked against the config schema's ``distributed`` section;
    errors name the key ``distributed.<key>``.

    Args:
        section: the ``distributed`` mapping of a config (None: all defaults).

    Returns:
        a new dict with exactly the keys of :data:`DEFAULTS`.
    """
    return validate(DistributedSection, {} if section is None else section, prefix="distributed")


def slice_size_for(cfg: dict[str, Any], pop: int) -> int:
    """Individuals per slice for a population of ``pop``.

    ``slice_size`` if set; if null, the whole population for ``backend: local`` (one rollout, as the runner
    evaluates) and ``ceil(pop / num_workers)`` for ``backend: ray`` (one slice per worker).
    """
    if cfg["slice_size"] is not None:
        return min(cfg["slice_size"], pop)
    if cfg["backend"] == "local":
        return pop
    return math.ceil(pop / cfg["num_workers"])
