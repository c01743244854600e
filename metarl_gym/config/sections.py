"""The sections every command shares: ``env`` (the one spelling of an env: id, kwargs, masking, reservoir) and
``distributed`` (where evaluations run).

::

    env:
      id: MetaRL/CartPole-v1      # any registered id: a MetaRL id's torch batch, any other in Gymnasium's sync vector env
      kwargs: {}                  # the env's constructor arguments (checked against its signature) and max_episode_steps
      mask_velocity: false        # drop the velocity columns (MaskVelocity)
      vectorization_mode: null    # null: the torch batch when there is one, else sync; or vector_entry_point | sync | async
      reservoir: null             # ReservoirEncoder arguments {units: 100, spectral_radius: 0.9, ...}, or
                                  # {reservoirs: [{...}, {...}], use_action: true, ...} (MultiReservoirEncoder)
      morphologies: null          # evolve only: [standard, damaged_right] gives one lifetime per (individual, morphology)
    distributed:
      backend: local              # local | ray
      address: null               # null: start a local Ray; "auto": the cluster of `ray start`; "ray://host:10001"
      num_workers: 2              # Ray actors, each holding its own env batch and policy
      num_cpus_per_worker: 1
      num_gpus_per_worker: 0
      max_failures: 3             # lost workers tolerated per generation; one more stops the run
      slice_size: null            # individuals per slice (fixes the random draws); null: pop (local), ceil(pop / num_workers) (ray)
      connect_timeout_s: 30       # most seconds to wait for the cluster at `address` (then one line, exit 2);
                                  # workers not placed by then are announced on stderr, then awaited
"""

from __future__ import annotations

import difflib
import inspect
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import (
    ConfigModel,
    Count,
    Integer,
    Invalid,
    PositiveFloat,
    check_kwargs,
    signature_parameters,
)

ENV_BUILDER_ARGS = ("num_envs", "device", "render_mode", "autoreset_mode", "single_observation_space", "single_action_space", "tasks")
"""Env constructor arguments the builders set themselves (never a config's)."""

_MAKE_KWARGS = {"max_episode_steps": int | None, "disable_env_checker": bool | None}
"""``gym.make``'s own keyword arguments that ``env.kwargs`` may set for a Gymnasium id."""


def env_constructor(env_id: str):
    """What ``env.kwargs`` of ``env_id`` is checked against: a MetaRL id's TorchVectorEnv class; for another
    Gymnasium id a stand-in whose signature is ``gym.make``'s own keywords plus the entry point's constructor
    arguments; None when that cannot be told (an entry point taking ``**kwargs`` all the way, or one whose
    dependency is not installed: building the env reports that)."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    from ..envs.make import torch_entry_point

    spec = gym.spec(env_id)
    torch_class = torch_entry_point(spec)
    if torch_class is not None:
        return torch_class
    try:
        entry = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
    except Exception:  # a missing dependency (mujoco, box2d)
        return None
    if not callable(entry):
        return None
    inits = [vars(k)["__init__"] for k in entry.__mro__ if "__init__" in vars(k) and k is not object] if inspect.isclass(entry) else [entry]
    if all(any(p.kind is p.VAR_KEYWORD for p in inspect.signature(f).parameters.values()) for f in inits):
        return None
    params = {**_MAKE_KWARGS, **signature_parameters(entry)[0]}

    def constructor(**kwargs):  # only its signature is read
        raise NotImplementedError("a signature stand-in for checking env kwargs; envs are built by envs.make")

    constructor.__signature__ = inspect.Signature([inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in params])
    constructor.__annotations__ = {n: h for n, h in params.items() if h is not inspect.Parameter.empty}
    constructor.__name__ = f"{env_id} (gym.make / {getattr(entry, '__name__', 'entry point')})"
    return constructor


def check_env_id(value: str) -> str:
    """A registered Gymnasium id (the MetaRL ids are registered by ``import metarl_gym``)."""
    import gymnasium as gym

    import metarl_gym  # noqa: F401  (registers the ids)

    if value not in gym.registry:
        near = difflib.get_close_matches(value, sorted(gym.registry), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(i) for i in near)}? " if near else ""
        raise Invalid(f"unknown env id {value!r}; {hint}`metarl-gym envs` lists the MetaRL ids, gymnasium.pprint_registry() all")
    return value


def check_reservoir(reservoir: dict[str, Any] | None, key: str = "reservoir") -> dict[str, Any] | None:
    """Reservoir encoder arguments checked against ``ReservoirEncoder`` (or ``MultiReservoirEncoder`` and, per
    entry of ``reservoirs``, one reservoir's arguments)."""
    if reservoir is None:
        return None
    from ..envs.reservoir import MultiReservoirEncoder, ReservoirEncoder

    if "reservoirs" not in reservoir:
        return check_kwargs(reservoir, ReservoirEncoder, exclude=("env",), key=key)
    out = check_kwargs(reservoir, MultiReservoirEncoder, exclude=("env",), key=key)
    items = out["reservoirs"]
    if not isinstance(items, list) or not items:
        raise Invalid(f"must be a non-empty list of reservoir argument mappings, got {items!r}", f"{key}.reservoirs")
    shared = ("env", "use_action", "use_reward", "skip_connection")
    out["reservoirs"] = [check_kwargs(item, ReservoirEncoder, exclude=shared, key=f"{key}.reservoirs.{k}") for k, item in enumerate(items)]
    return out


class EnvSection(ConfigModel):
    """``env:``: which env every command builds, and how (through :func:`metarl_gym.envs.make`)."""

    id: str = "MetaRL/CartPole-v1"
    kwargs: dict[str, Any] = {}
    mask_velocity: bool = False
    vectorization_mode: Literal["vector_entry_point", "sync", "async"] | None = None
    reservoir: dict[str, Any] | None = None
    morphologies: list[str] | None = None

    @field_validator("id")
    @classmethod
    def _registered(cls, value: str) -> str:
        return check_env_id(value)

    @field_validator("morphologies")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or len(set(value)) != len(value)):
            raise Invalid(f"must be null or a non-empty list of distinct morphology names, e.g. [standard, damaged_right]; got {value!r}")
        return value

    @model_validator(mode="after")
    def _arguments(self):
        self.kwargs = check_kwargs(self.kwargs, env_constructor(self.id), exclude=ENV_BUILDER_ARGS)
        self.reservoir = check_reservoir(self.reservoir)
        return self


class DistributedSection(ConfigModel):
    """``distributed:`` (see the module docstring; :mod:`metarl_gym.distributed` runs it)."""

    backend: Literal["local", "ray"] = "local"
    address: Annotated[str, Field(min_length=1)] | None = None
    num_workers: Count = 2
    num_cpus_per_worker: PositiveFloat = 1.0
    num_gpus_per_worker: Annotated[float, Field(ge=0)] = 0.0
    max_failures: Annotated[Integer, Field(ge=0)] = 3
    slice_size: Count | None = None
    connect_timeout_s: PositiveFloat = 30.0


__all__ = ["ENV_BUILDER_ARGS", "DistributedSection", "EnvSection", "check_env_id", "check_reservoir", "env_constructor"]
