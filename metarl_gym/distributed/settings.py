"""The ``distributed:`` config section: defaults and checks (ray is not imported here).

::

    distributed:
      backend: local        # local | ray
      address: null         # null: start a local Ray (laptop); "auto": the cluster of `ray start`; "ray://host:10001"
      num_workers: 2        # Ray actors, each holding its own env batch and policy
      num_cpus_per_worker: 1
      num_gpus_per_worker: 0
      max_failures: 3       # lost workers tolerated per generation (per ray_map call); one more stops the run
      slice_size: null      # individuals per slice (fixes the random draws); null: pop (local), ceil(pop / num_workers) (ray)
      connect_timeout_s: 30 # most seconds to wait for the cluster at `address` (then one line, exit 2)
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import UserError

DEFAULTS: dict[str, Any] = {
    "backend": "local",
    "address": None,
    "num_workers": 2,
    "num_cpus_per_worker": 1,
    "num_gpus_per_worker": 0,
    "max_failures": 3,
    "slice_size": None,
    "connect_timeout_s": 30.0,
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def resolve_distributed(section: dict[str, Any] | None) -> dict[str, Any]:
    """``section`` with every default filled in, checked; errors name the key ``distributed.<key>``.

    Args:
        section: the ``distributed`` mapping of a config (None: all defaults).

    Returns:
        a new dict with exactly the keys of :data:`DEFAULTS`.
    """
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise UserError(f"config key 'distributed': must be a mapping with keys {sorted(DEFAULTS)}, got {section!r}")
    unknown = sorted(set(section) - set(DEFAULTS))
    if unknown:
        raise UserError(f"config key 'distributed.{unknown[0]}': unknown key; allowed keys: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **section}

    def bad(key: str, what: str) -> UserError:
        return UserError(f"config key 'distributed.{key}': {what}, got {cfg[key]!r}")

    if cfg["backend"] not in ("local", "ray"):
        raise bad("backend", "allowed values: local, ray")
    address = cfg["address"]
    if address is not None and not (isinstance(address, str) and address):
        raise bad("address", 'must be null (start a local Ray), "auto" (the cluster of `ray start`) or "ray://host:port"')
    if not (_is_int(cfg["num_workers"]) and cfg["num_workers"] >= 1):
        raise bad("num_workers", "must be an integer >= 1")
    if not (_is_number(cfg["num_cpus_per_worker"]) and cfg["num_cpus_per_worker"] > 0):
        raise bad("num_cpus_per_worker", "must be a number > 0")
    if not (_is_number(cfg["num_gpus_per_worker"]) and cfg["num_gpus_per_worker"] >= 0):
        raise bad("num_gpus_per_worker", "must be a number >= 0")
    if not (_is_int(cfg["max_failures"]) and cfg["max_failures"] >= 0):
        raise bad("max_failures", "must be an integer >= 0")
    if cfg["slice_size"] is not None and not (_is_int(cfg["slice_size"]) and cfg["slice_size"] >= 1):
        raise bad("slice_size", "must be null or an integer >= 1")
    if not (_is_number(cfg["connect_timeout_s"]) and cfg["connect_timeout_s"] > 0):
        raise bad("connect_timeout_s", "must be a number of seconds > 0")
    return cfg


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
