"""YAML run configs for ``metarl-gym evolve``: loading, ``key=value`` overrides, defaults and validation.

An ``evolve`` config (every key optional)::

    env: {id: MetaRL/CartPole-v1, kwargs: {}, mask_velocity: false, vectorization_mode: null, reservoir: null}
    policy: {name: mlp, kwargs: {hidden_sizes: [16]}}          # kwargs checked against the policy's signature
    strategy: {name: ga, pop_size: 100, kwargs: {selection: truncation}}
    generations: 20
    episodes: 1            # episodes per evaluation (mean return is the fitness); a plastic policy's lifetime
    seed: 0                # null: drawn at random and recorded in config.yaml
    device: cpu
    checkpoint_every: 1    # generations between atomic checkpoints (and always at the end)
    rollout:
      early_stop: null     # {patience: 30, after: 200} stops rows that stopped earning (the Hebbian seed's rule)
      engine: auto         # auto | loop | blocked  (passed to metarl_gym.evolution.rollout)
      block_size: null     # rows per block of the blocked engine (null: rollout's default)
      compile: auto        # torch.compile the blocked engine's step (auto: from 4,096 rows per generation on)
    distributed:           # where evaluations run (see metarl_gym.distributed)
      backend: local       # local | ray
      address: null        # null: a local Ray; "auto": the cluster of `ray start`; "ray://host:10001"
      num_workers: 2
      num_cpus_per_worker: 1
      num_gpus_per_worker: 0
      max_failures: 3
      slice_size: null
    logging: {tensorboard: false}   # true: TensorBoard scalars per generation in <run>/tensorboard (extra `tensorboard`)

The schema (:mod:`metarl_gym.schema`) refuses unknown keys at every level (listing the accepted ones), wrong
types (``mask_velocity: 'false'`` is a string, not a bool), out-of-range or non-finite values, and kwargs that
the policy / strategy / env does not take. Deviation from CONTRACTS §3: ``episodes`` stays top-level (every
existing config and example uses it); ``rollout.episodes`` is refused with a message saying so.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

from .errors import UserError
from .run_dir import atomic_write_bytes
from .schema import MISSING, AnyValue, Bool, BoolOrAuto, ConfigError, Float, Int, Kwargs, Removed, Section, Seed, Str, check_device
from .yaml_io import dump_yaml_text, load_yaml_file, load_yaml_text

__all__ = [
    "ConfigError", "EVOLVE_DEFAULTS", "EVOLVE_SCHEMA", "apply_overrides", "check_resume_config", "dump_yaml",
    "load_yaml", "merge", "resolve_evolve_config",
]

EVOLVE_DEFAULTS: dict[str, Any] = {
    "env": {"id": "MetaRL/CartPole-v1", "kwargs": {}, "mask_velocity": False, "vectorization_mode": None},
    "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [16], "activation": "tanh"}},
    "strategy": {"name": "ga", "pop_size": 100, "kwargs": {"selection": "truncation", "num_survivors": 20, "elitism": 5, "mutation_prob": 0.1, "mutation_std": 0.3}},
    "generations": 20,
    "episodes": 1,
    "seed": 0,
    "device": "cpu",
    "checkpoint_every": 1,
}
"""What ``metarl-gym evolve`` runs with no config: a GA on MetaRL/CartPole-v1, a few seconds on 2 cores.

Merged under a user config by :func:`merge` (a section that names another policy / strategy drops the default
kwargs); every other default comes from :data:`EVOLVE_SCHEMA`.
"""


def _env_class(section: dict[str, Any]):
    import gymnasium as gym

    from .envs.make import torch_entry_point

    return torch_entry_point(gym.spec(section["id"]))


def _check_env_id(value: str, path: str) -> str:
    import gymnasium as gym

    import metarl_gym  # noqa: F401  (registers the ids)

    if value not in gym.registry:
        near = difflib.get_close_matches(value, sorted(gym.registry), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(i) for i in near)}? " if near else ""
        raise ConfigError(path, f"unknown env id {value!r}; {hint}`metarl-gym envs` lists the MetaRL ids")
    return value


def _policy_class(section):
    from .agents import policy_class

    return policy_class(section["name"])


def _strategy_class(section):
    from .evolution import STRATEGIES

    return STRATEGIES[section["name"]]


def env_section(default_id: Any = "MetaRL/CartPole-v1") -> Section:
    """The ``env:`` section shared by the commands (one spelling of each key)."""
    return Section({
        "id": Str(default_id, check=_check_env_id),
        "kwargs": Kwargs(_env_class, exclude=("num_envs", "device", "render_mode", "single_observation_space", "single_action_space")),
        "mask_velocity": Bool(False),
        "vectorization_mode": Str(None, choices=["vector_entry_point", "sync", "async"]),
        "reservoir": AnyValue(None, doc="ReservoirEncoder arguments, checked by metarl_gym.envs.make"),
        "morphologies": AnyValue(None, check=_check_morphologies, doc="one lifetime per (individual, morphology)"),
    })


def _check_morphologies(value: Any, path: str) -> list[str]:
    """``env.morphologies``: a non-empty list of distinct names (each checked by the env when it is built)."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value) or len(set(value)) != len(value):
        raise ConfigError(path, f"must be null or a non-empty list of distinct morphology names, e.g. [standard, damaged_right]; got {value!r}")
    return list(value)


DISTRIBUTED_SECTION = Section({
    "backend": Str("local", choices=["local", "ray"]),
    "address": Str(None),
    "num_workers": Int(2, min=1),
    "num_cpus_per_worker": Float(1.0, min=0, min_exclusive=True),
    "num_gpus_per_worker": Float(0.0, min=0),
    "max_failures": Int(3, min=0),
    "slice_size": Int(None, min=1),
    "connect_timeout_s": Float(30.0, min=0, min_exclusive=True),
})
"""CONTRACTS §4 (plus ``slice_size``, metarl_gym.distributed.settings)."""


def _schema() -> Section:
    from .agents import POLICIES
    from .evolution import STRATEGIES

    return Section({
        "env": env_section(),
        "policy": Section({
            "name": Str("mlp", choices=sorted(POLICIES)),
            "kwargs": Kwargs(_policy_class, exclude=("observation_space", "action_space")),
        }),
        "strategy": Section({
            "name": Str("ga", choices=sorted(STRATEGIES)),
            "pop_size": Int(100, min=2),
            "kwargs": Kwargs(_strategy_class, exclude=("num_params", "pop_size", "seed", "device")),
        }),
        "generations": Int(20, min=1),
        "episodes": Int(1, min=1),
        "seed": Seed(0),
        "device": Str("cpu", check=check_device),
        "checkpoint_every": Int(1, min=1),
        "rollout": Section({
            "episodes": Removed("episodes per evaluation are the top-level key `episodes`; set episodes: N"),
            "early_stop": Section({"patience": Int(MISSING, min=1), "after": Int(0, min=0)}, default=None),
            "engine": Str("auto", choices=["auto", "loop", "blocked"]),
            "block_size": Int(None, min=1),
            "compile": BoolOrAuto("auto"),
            "fast": Removed("rollout.fast was removed: use rollout.engine: blocked, rollout.block_size: N and "
                            "rollout.compile: true|false|auto"),
        }),
        "distributed": DISTRIBUTED_SECTION,
        "logging": Section({"tensorboard": Bool(False)}),
    })


EVOLVE_SCHEMA = None
"""Built on first use by :func:`evolve_schema` (it reads the policy and strategy registries)."""


def evolve_schema() -> Section:
    """The :class:`~metarl_gym.schema.Section` every evolve config is checked against."""
    global EVOLVE_SCHEMA
    if EVOLVE_SCHEMA is None:
        EVOLVE_SCHEMA = _schema()
    return EVOLVE_SCHEMA


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


def merge(defaults: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``config`` wins; ``kwargs`` sub-dicts are replaced, not merged, when the name changes."""
    out = copy.deepcopy(defaults)
    for key, value in config.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "kwargs":
            if "name" in value and value.get("name") != out[key].get("name"):
                out[key] = copy.deepcopy(value)  # another policy / strategy: the defaults' kwargs don't apply
            else:
                out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_evolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every key checked; raises :class:`ConfigError` naming the key path.

    Idempotent: resolving a resolved config gives it back unchanged.
    """
    if not isinstance(config, dict):
        raise ConfigError("<root>", f"an evolve config must be a mapping, got {type(config).__name__}")
    schema = evolve_schema()
    for key in config:  # before merging: an unknown top-level key is named as the user wrote it
        if key not in schema.fields:
            schema.validate({key: config[key]})
    return schema.validate(merge(EVOLVE_DEFAULTS, config))


RESUME_OVERRIDABLE = ("generations",)
"""Keys whose value may change between a stop and a resume (to extend a run)."""


RESUME_NEUTRAL = ("address", "num_cpus_per_worker", "num_gpus_per_worker", "max_failures", "connect_timeout_s")
"""``distributed.*`` keys an edit of config.yaml may change between a stop and a resume: where and on how
much hardware evaluations run never changes a result (``num_workers`` too when ``slice_size`` is fixed, since
the slicing, not the worker count, fixes the random draws)."""


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in config.items() if k not in RESUME_OVERRIDABLE}
    dist = out.get("distributed")
    if isinstance(dist, dict):
        for key in RESUME_NEUTRAL + (("num_workers",) if dist.get("slice_size") is not None else ()):
            dist.pop(key, None)
    return out


def check_resume_config(stored: dict[str, Any], given: dict[str, Any], path: str | Path) -> None:
    """Refuse a resume whose config differs from the stored one except in :data:`RESUME_OVERRIDABLE` (and the
    result-neutral ``distributed`` keys, :data:`RESUME_NEUTRAL`).

    Raises:
        UserError: naming the first differing key path.
    """
    diff = _first_difference(_comparable(stored), _comparable(given))
    if diff is not None:
        key, a, b = diff
        raise UserError(
            f"{path}: config key '{key}' is {b!r} but the run was started with {a!r}; a run resumes with the config "
            f"it started with (only {', '.join(RESUME_OVERRIDABLE)} may change): undo the edit, or start a new run"
        )


def _first_difference(a: Any, b: Any, prefix: str = ""):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                return sub, a.get(key, "<absent>"), b.get(key, "<absent>")
            found = _first_difference(a[key], b[key], sub)
            if found is not None:
                return found
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return prefix, a, b
        for i, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, f"{prefix}.{i}")
            if found is not None:
                return found
        return None
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool)):
        return prefix, a, b
    return None if a == b else (prefix, a, b)


def dump_yaml(config: dict[str, Any], path: str | Path) -> None:
    """Write ``config`` as YAML (atomically, fsync'ed)."""
    atomic_write_bytes(path, dump_yaml_text(config).encode())

