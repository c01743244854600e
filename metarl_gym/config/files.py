"""Config files: YAML in and out, ``key=value`` overrides, and the one resume check of every command.

A run resumes with the config it started with: :func:`config_differences` lists the key paths where two resolved
configs differ, except those a resume may change (``generations`` of evolve, ``search.generations`` of ER-MRL, and
the keys that only say where and on how much hardware a run computes).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..yaml_io import dump_yaml_text, load_yaml_file, load_yaml_text
from .base import ConfigError


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a :class:`~metarl_gym.errors.UserError` naming the file (and line and column of
    a syntax error)."""
    return load_yaml_file(path)


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML: ``3``, ``0.1``, ``[16, 16]``, ``null``)."""
    config = copy.deepcopy(config)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(item, "overrides must look like key.path=value, e.g. strategy.pop_size=64")
        key_path, raw = item.split("=", 1)
        keys = key_path.strip().split(".")
        if not all(keys):  # `=5`, `strategy..pop_size=5`, `.seed=1`: was "config key '<root>' / 'strategy': unknown key"
            raise ConfigError(key_path.strip() or "<empty>", f"override {item!r} has an empty key; write key.path=value, e.g. strategy.pop_size=64")
        node = config
        for depth, key in enumerate(keys[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                raise ConfigError(".".join(keys[: depth + 1]), f"is a {type(child).__name__}, cannot set {key_path}")
            node = child
        node[keys[-1]] = load_yaml_text(raw, f"override {item}", fix="fix the value")
    return config


EVOLVE_RESUME_MAY_CHANGE = ("generations", "distributed.address", "distributed.num_cpus_per_worker",
                            "distributed.num_gpus_per_worker", "distributed.max_failures", "distributed.connect_timeout_s")
"""Keys of an evolve (or baseline) config a resume may change: more generations, and where and on how much hardware
evaluations run, which never changes a result (``distributed.num_workers`` too when ``distributed.slice_size`` is
fixed, since the slicing, not the worker count, fixes the random draws)."""


def resume_may_change(config: dict[str, Any]) -> tuple[str, ...]:
    """:data:`EVOLVE_RESUME_MAY_CHANGE`, plus ``distributed.num_workers`` when ``config`` fixes the slice size."""
    fixed_slices = isinstance(config.get("distributed"), dict) and config["distributed"].get("slice_size") is not None
    return EVOLVE_RESUME_MAY_CHANGE + (("distributed.num_workers",) if fixed_slices else ())


def config_differences(saved: Any, given: Any, may_change: tuple[str, ...] = (), prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``[(key path, saved value, given value)]`` where two resolved configs differ, in key order, skipping the key
    paths in ``may_change`` (and everything under them). Numbers compare by value (``1 == 1.0``), and a key one side
    lacks equals null (a config written before the key existed)."""
    if prefix in may_change:
        return []
    if isinstance(saved, dict) and isinstance(given, dict):
        out = []
        for key in list(saved) + [k for k in given if k not in saved]:
            sub = f"{prefix}.{key}" if prefix else str(key)
            if key not in saved or key not in given:
                # a key added to the schema later with a null default (feature off) says what its absence said
                if sub not in may_change and (saved.get(key) is not None or given.get(key) is not None):
                    out.append((sub, saved.get(key, "<absent>"), given.get(key, "<absent>")))
                continue
            out += config_differences(saved[key], given[key], may_change, sub)
        return out
    if isinstance(saved, (list, tuple)) and isinstance(given, (list, tuple)) and len(saved) == len(given):
        return [d for i, (x, y) in enumerate(zip(saved, given)) for d in config_differences(x, y, may_change, f"{prefix}.{i}")]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (saved, given))
    if (type(saved) is not type(given) and not numbers) or saved != given:
        return [(prefix, saved, given)]
    return []


def check_resume_config(stored: dict[str, Any], given: dict[str, Any], path: str | Path, may_change: tuple[str, ...] | None = None) -> None:
    """Refuse a resume whose config differs from the stored one outside ``may_change`` (default: evolve's,
    :func:`resume_may_change`).

    Raises:
        UserError: naming the first differing key path, both values and what may change.
    """
    may_change = resume_may_change(stored) if may_change is None else may_change
    diffs = config_differences(stored, given, may_change)
    if diffs:
        key, a, b = diffs[0]
        raise UserError(
            f"{path}: config key '{key}' is {b!r} but the run was started with {a!r}; a run resumes with the config "
            f"it started with (only {', '.join(may_change)} may change): undo the edit, or start a new run"
        )


def dump_yaml(config: dict[str, Any], path: str | Path) -> None:
    """Write ``config`` as YAML (atomically, fsync'ed)."""
    from ..run_dir import atomic_write_bytes  # (run_dir loads torch; reading and checking a config does not)

    atomic_write_bytes(path, dump_yaml_text(config).encode())

