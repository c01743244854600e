"""The ER-MRL config: one declarative schema (:mod:`metarl_gym.schema`), defaults of the seed, resume checks.

::

    envs:                       # evolution env(s); several -> normalised (generalisation) fitness
      - {id: MetaRL/CartPole-v1, kwargs: {}, mask_velocity: true, random_score: null, target_score: null}
    seed: 0                     # null: drawn at random and recorded in config.yaml
    device: auto                # SB3 model and env device ("auto": CUDA when available)
    workers: 1                  # PPO runs in parallel worker processes
    threads: null               # torch threads per PPO run
    reservoir: {nb_res: 1, units: 100, rc_connectivity: 0.1, input_connectivity: 0.1, bias_scaling: 1.0,
                use_action: true, use_reward: true, skip_connection: false}
    search: {generations: 10, popsize: 8, sigma0: 0.25, x0: null, evolve_input_scaling: true, input_scaling: 1.0}
    fitness: {seeds: 3, total_timesteps: 300000, last_episodes: 10, random_episodes: 20}
    ppo: {n_envs: 1, algorithm_kwargs: {}}     # SB3 PPO arguments ("lin_<x>" strings: linear schedules)
    test: {env: null, seeds: 5, total_timesteps: 1000000}
    distributed: {backend: local}              # CONTRACTS §4; backend: ray runs the PPO trials on Ray actors

Every key is checked (unknown keys at every level, types, ranges, finiteness; env and PPO kwargs against the
constructor signatures) with a :class:`~metarl_gym.schema.ConfigError` naming the key path.
"""

from __future__ import annotations

import copy
import difflib
import re
import secrets
from typing import Any

import gymnasium as gym

from ...schema import (
    Bool,
    ConfigError,
    Field,
    Float,
    Int,
    Kwargs,
    List,
    Section,
    Seed,
    Str,
    check_device,
)
from .search_space import SEARCH_BOUNDS

TARGET_SCORES = {
    "MetaRL/CartPole-v1": 500.0,
    "MetaRL/PendulumSwingup-v1": -200.0,
    "MetaRL/Pendulum-v0": 4000.0,
}
"""Default target episode returns for the normalised (generalisation) fitness."""

RESUME_MAY_CHANGE = ("search.generations", "workers", "threads", "distributed")
"""Config keys a resumed study may change (more generations; how the trials are executed). The others decide
the result, so the stored config must match."""

# constructor arguments that the ER-MRL builders set themselves
_ENV_BUILDER_ARGS = ("num_envs", "device", "autoreset_mode", "render_mode", "single_observation_space", "single_action_space", "tasks")
_PPO_BUILDER_ARGS = ("policy", "env", "seed", "device", "verbose", "_init_setup_model")


# ---------------------------------------------------------------------------------------------- field checks
def _torch_ids() -> list[str]:
    from ...envs.make import torch_entry_point

    return sorted(i for i, spec in gym.registry.items() if i.startswith("MetaRL/") and torch_entry_point(spec) is not None)


def _check_env_id(value: str, path: str) -> str:
    ids = _torch_ids()
    if value not in ids:
        near = difflib.get_close_matches(value, ids, n=1, cutoff=0.5)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(path, f"must be a registered torch-batched env id{hint}; one of {ids}, got {value!r}")
    return value


def _env_class(section: dict[str, Any]):
    from ...envs.make import torch_entry_point

    return torch_entry_point(gym.spec(section["id"]))


def _check_device(value: str, path: str) -> str:
    return value if value == "auto" else check_device(value, path)


_SCHEDULE = re.compile(r"^lin_([0-9.eE+-]+)$")


def _check_ppo_kwargs(kwargs: dict[str, Any], path: str) -> dict[str, Any]:
    """Strings where SB3 wants numbers or schedules: ``lin_<start>``; activation functions by name."""
    from ..run import ACTIVATIONS

    for key in ("learning_rate", "clip_range"):
        value = kwargs.get(key)
        if isinstance(value, str):
            match = _SCHEDULE.match(value)
            try:
                ok = match is not None and float(match.group(1)) >= 0
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError(f"{path}.{key}", f"must be a number or a linear schedule 'lin_<start>' such as 'lin_0.001', got {value!r}")
    policy_kwargs = kwargs.get("policy_kwargs")
    if policy_kwargs is not None and not isinstance(policy_kwargs, dict):
        raise ConfigError(f"{path}.policy_kwargs", f"must be a mapping, got {policy_kwargs!r}")
    act = (policy_kwargs or {}).get("activation_fn")
    if act is not None and (not isinstance(act, str) or act.lower() not in ACTIVATIONS):
        raise ConfigError(f"{path}.policy_kwargs.activation_fn", f"must be one of {sorted(ACTIVATIONS)}, got {act!r}")
    return kwargs


def _ppo_class(_section):
    from stable_baselines3 import PPO

    return PPO


class EnvEntry(Section):
    """One env: ``{id, kwargs, mask_velocity, random_score, target_score}`` (a bare id string is accepted)."""

    def __init__(self, **kw):
        super().__init__(
            {
                "id": Str(check=_check_env_id, doc="a MetaRL/* id, e.g. MetaRL/CartPole-v1"),
                "kwargs": Kwargs(_env_class, exclude=_ENV_BUILDER_ARGS),
                "mask_velocity": Bool(False),
                "random_score": Float(None),
                "target_score": Float(None),
            },
            **kw,
        )

    def _validate(self, value, path):
        return super()._validate({"id": value} if isinstance(value, str) else value, path)


class _Distributed(Field):
    """The CONTRACTS §4 ``distributed`` section, checked by :mod:`metarl_gym.distributed` where installed."""

    kind = "a mapping of distributed settings"

    def validate(self, value, path="", root=None):
        try:
            from ...distributed.settings import resolve_distributed
        except ImportError:
            if value not in (None, {}, {"backend": "local"}):
                raise ConfigError(path, "needs metarl_gym.distributed, which is not available in this install") from None
            return {"backend": "local"}
        return resolve_distributed(value)

    def resolve_default(self, path):
        return self.validate(None, path)


def _check_root(config: dict[str, Any], path: str) -> dict[str, Any]:
    if config["seed"] is None:
        config["seed"] = secrets.randbits(31)
    if config["device"] == "auto":
        from stable_baselines3.common.utils import get_device

        config["device"] = str(get_device("auto"))
    if config["test"]["env"] is None:
        config["test"]["env"] = copy.deepcopy(config["envs"][0])
    if len(config["envs"]) > 1:
        for i, env in enumerate(config["envs"]):
            if env["target_score"] is None:
                if env["id"] not in TARGET_SCORES:
                    raise ConfigError(f"envs.{i}.target_score", f"needed to normalise the fitness over several envs (no default for {env['id']})")
                env["target_score"] = TARGET_SCORES[env["id"]]
            if env["random_score"] is not None and env["random_score"] == env["target_score"]:
                raise ConfigError(f"envs.{i}.target_score", f"must differ from random_score ({env['random_score']}) to normalise")
    return config


def _x0_field(name: str) -> Float:
    lo, hi = SEARCH_BOUNDS[name]
    return Float(None, min=lo, max=hi)


SCHEMA = Section(
    {
        "envs": List(EnvEntry(), [{"id": "MetaRL/CartPole-v1", "mask_velocity": True}], min_len=1),
        "seed": Seed(0),
        "device": Str("auto", check=_check_device),
        "workers": Int(1, min=1),
        "threads": Int(None, min=1),
        "reservoir": Section(
            {
                "nb_res": Int(1, min=1),
                "units": Int(100, min=1),
                "rc_connectivity": Float(0.1, min=0.0, max=1.0, min_exclusive=True),
                "input_connectivity": Float(0.1, min=0.0, max=1.0, min_exclusive=True),
                "bias_scaling": Float(1.0, min=0.0),
                "use_action": Bool(True),
                "use_reward": Bool(True),
                "skip_connection": Bool(False),
            }
        ),
        "search": Section(
            {
                "generations": Int(10, min=1),
                "popsize": Int(8, min=3, doc="pycma needs 3 or more candidates without mirrored sampling"),
                "sigma0": Float(0.25, min=0.0, max=1.0, min_exclusive=True, doc="a step in log-scaled [0, 1] coordinates"),
                "x0": Section({name: _x0_field(name) for name in SEARCH_BOUNDS}, default=None),
                "evolve_input_scaling": Bool(True),
                "input_scaling": Float(1.0, min=0.0, min_exclusive=True),
            }
        ),
        "fitness": Section(
            {
                "seeds": Int(3, min=1),
                "total_timesteps": Int(300_000, min=1),
                "last_episodes": Int(10, min=1),
                "random_episodes": Int(20, min=1),
            }
        ),
        "ppo": Section(
            {
                "n_envs": Int(1, min=1),
                "algorithm_kwargs": Kwargs(_ppo_class, exclude=_PPO_BUILDER_ARGS, check=_check_ppo_kwargs),
            }
        ),
        "test": Section({"env": EnvEntry(default=None), "seeds": Int(5, min=1), "total_timesteps": Int(1_000_000, min=1)}),
        "distributed": _Distributed(None),
    },
    check=_check_root,
)
"""The ER-MRL schema; defaults are the seed's (300k PPO steps, 3 seeds, 5 test seeds)."""


def resolve_er_mrl_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill the defaults and validate.

    Args:
        config: the loaded YAML (overrides applied).

    Returns:
        The resolved config (a new dict; ``seed`` and ``device`` made concrete).

    Raises:
        ConfigError: (a :class:`~metarl_gym.errors.UserError`) naming the key path, what is allowed and,
            for a misspelled key, the nearest accepted one.
    """
    return SCHEMA.validate(config, "")


def config_differences(saved: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """Key paths (``search.sigma0``, ``envs``) where two resolved configs differ, except those a resume may change."""
    out = []
    for key in sorted(set(saved) | set(given)):
        if key in RESUME_MAY_CHANGE:
            continue
        a, b = saved.get(key), given.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key != "test":
            for sub in sorted(set(a) | set(b)):
                if f"{key}.{sub}" not in RESUME_MAY_CHANGE and a.get(sub) != b.get(sub):
                    out.append(f"{key}.{sub}")
        elif a != b:
            out.append(key)
    return out


__all__ = ["SCHEMA", "TARGET_SCORES", "RESUME_MAY_CHANGE", "resolve_er_mrl_config", "config_differences"]
