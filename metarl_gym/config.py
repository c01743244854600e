"""YAML run configs: loading, ``key=value`` overrides, defaults and validation with errors naming the key path.

An ``evolve`` config::

    env: {id: MetaRL/CartPole-v1, kwargs: {}, mask_velocity: false}
    policy: {name: mlp, kwargs: {hidden_sizes: [16]}}
    strategy: {name: ga, pop_size: 100, kwargs: {selection: roulette}}
    generations: 20
    episodes: 1            # episodes per evaluation (mean return is the fitness)
    seed: 0
    device: cpu
    checkpoint_every: 1    # generations between atomic checkpoints (and always at the end)
    rollout: {early_stop: null, fast: null}
      # early_stop: {patience: 30, after: 200} stops rows that stopped earning (the Hebbian seed's rule)
      # fast: {block_size: 256, compile: true, steps_per_call: 10} evaluates with fast_rollout (blocks of rows kept
      #   in cache; torch envs with a time limit, episodes: 1, no early_stop)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config value is missing or invalid; the message names the key path and what is allowed."""

    def __init__(self, key_path: str, message: str):
        super().__init__(f"config key '{key_path}': {message}")
        self.key_path = key_path


EVOLVE_DEFAULTS: dict[str, Any] = {
    "env": {"id": "MetaRL/CartPole-v1", "kwargs": {}, "mask_velocity": False, "vectorization_mode": None},
    "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [16], "activation": "tanh"}},
    "strategy": {"name": "ga", "pop_size": 100, "kwargs": {"selection": "truncation", "num_survivors": 20, "elitism": 5, "mutation_prob": 0.1, "mutation_std": 0.3}},
    "generations": 20,
    "episodes": 1,
    "seed": 0,
    "device": "cpu",
    "checkpoint_every": 1,
    "rollout": {"early_stop": None, "fast": None},
}
"""What ``metarl-gym evolve`` runs with no config: a GA on MetaRL/CartPole-v1, about a minute on 2 cores."""


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a clear error when the file is missing or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} not found")
    with path.open() as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ConfigError("<root>", f"{path} must contain a YAML mapping, got {type(data).__name__}")
    return data


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
        node[keys[-1]] = yaml.safe_load(raw)
    return config


def merge(defaults: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``config`` wins; ``kwargs`` sub-dicts are replaced, not merged, when the name changes."""
    out = copy.deepcopy(defaults)
    for key, value in config.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "kwargs":
            if "name" in value and value.get("name") != out[key].get("name"):
                out[key] = copy.deepcopy(value)  # another policy / strategy: the defaults' kwargs don't apply
                out[key].setdefault("kwargs", {})
            else:
                out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_evolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every key checked; raises :class:`ConfigError` naming the key path."""
    from .agents import POLICIES
    from .evolution import STRATEGIES

    unknown = set(config) - set(EVOLVE_DEFAULTS)
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(key, f"unknown key; allowed top-level keys: {sorted(EVOLVE_DEFAULTS)}")
    config = merge(EVOLVE_DEFAULTS, config)
    _check_section(config, "env", {"id", "kwargs", "mask_velocity", "vectorization_mode"})
    _check_section(config, "policy", {"name", "kwargs"})
    _check_section(config, "strategy", {"name", "pop_size", "kwargs"})
    _check_section(config, "rollout", {"early_stop", "fast"})
    if not isinstance(config["env"]["id"], str):
        raise ConfigError("env.id", f"must be an env id string, got {config['env']['id']!r}")
    if config["env"]["vectorization_mode"] not in (None, "vector_entry_point", "sync", "async"):
        raise ConfigError("env.vectorization_mode", "allowed values: null, vector_entry_point, sync, async")
    if config["policy"]["name"] not in POLICIES:
        raise ConfigError("policy.name", f"{config['policy']['name']!r} is not a policy; allowed values: {sorted(POLICIES)}")
    if config["strategy"]["name"] not in STRATEGIES:
        raise ConfigError("strategy.name", f"{config['strategy']['name']!r} is not a strategy; allowed values: {sorted(STRATEGIES)}")
    for key in ("generations", "episodes", "checkpoint_every"):
        _check_positive_int(config, key)
    _check_positive_int(config["strategy"], "pop_size", prefix="strategy.")
    if config["seed"] is not None and not isinstance(config["seed"], int):
        raise ConfigError("seed", f"must be an integer or null, got {config['seed']!r}")
    early_stop = config["rollout"]["early_stop"]
    if early_stop is not None and (not isinstance(early_stop, dict) or set(early_stop) - {"patience", "after"}):
        raise ConfigError("rollout.early_stop", "must be null or a mapping with keys patience, after")
    _check_fast_rollout(config)
    return config


FAST_ROLLOUT_KEYS = {"block_size": 256, "compile": False, "steps_per_call": 10}
"""``rollout.fast`` keys and their defaults (see :func:`metarl_gym.evolution.fast_rollout.fast_rollout`)."""


def _check_fast_rollout(config: dict) -> None:
    fast = config["rollout"]["fast"]
    if fast is None:
        return
    if not isinstance(fast, dict) or set(fast) - set(FAST_ROLLOUT_KEYS):
        raise ConfigError("rollout.fast", f"must be null or a mapping with keys {sorted(FAST_ROLLOUT_KEYS)}, got {fast!r}")
    config["rollout"]["fast"] = fast = {**FAST_ROLLOUT_KEYS, **fast}
    if fast["block_size"] is not None and not (_is_int(fast["block_size"]) and fast["block_size"] > 0):
        raise ConfigError("rollout.fast.block_size", f"must be a positive integer or null (one block), got {fast['block_size']!r}")
    if not isinstance(fast["compile"], bool):
        raise ConfigError("rollout.fast.compile", f"must be true or false, got {fast['compile']!r}")
    if not (_is_int(fast["steps_per_call"]) and fast["steps_per_call"] > 0):
        raise ConfigError("rollout.fast.steps_per_call", f"must be a positive integer, got {fast['steps_per_call']!r}")
    if config["episodes"] != 1:
        raise ConfigError("rollout.fast", f"plays one episode per individual: set episodes: 1 (got {config['episodes']}) or fast: null")
    if config["rollout"]["early_stop"] is not None:
        raise ConfigError("rollout.fast", "has no early stop: set rollout.early_stop: null or fast: null")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # YAML `true` is not a size


def _check_section(config: dict, section: str, allowed: set[str]) -> None:
    value = config[section]
    if not isinstance(value, dict):
        raise ConfigError(section, f"must be a mapping with keys {sorted(allowed)}, got {value!r}")
    unknown = set(value) - allowed
    if unknown:
        raise ConfigError(f"{section}.{sorted(unknown)[0]}", f"unknown key; allowed keys: {sorted(allowed)}")
    if "kwargs" in allowed:
        if value.get("kwargs") is None:
            value["kwargs"] = {}
        if not isinstance(value["kwargs"], dict):
            raise ConfigError(f"{section}.kwargs", f"must be a mapping, got {value['kwargs']!r}")


def _check_positive_int(config: dict, key: str, prefix: str = "") -> None:
    value = config[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(prefix + key, f"must be a positive integer, got {value!r}")


def dump_yaml(config: dict[str, Any], path: str | Path) -> None:
    """Write ``config`` as YAML (atomically)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.replace(path)
