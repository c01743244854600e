"""``make``: the one env builder — an id, optionally batched, velocity-masked and reservoir-encoded.

Every command (evolve, baseline, ER-MRL) and the Python API build their envs here, so each option has one
spelling::

    env = make("MetaRL/CartPole-v1")                                    # one numpy env (gym.make)
    env = make("MetaRL/CartPole-v1", 64, device="cuda")                 # the torch batch [64, ...]
    env = make("MetaRL/CartPole-v1", 64, mask_velocity=True,
               reservoir={"units": 100, "spectral_radius": 0.9, "leak_rate": 0.3, "seed": 0})

Order of the layers: the env, then :class:`~metarl_gym.envs.wrappers.MaskVelocity` (the reservoir sees the
masked observation, as in ER-MRL), then the reservoir encoder.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import gymnasium as gym
import numpy as np

from ..errors import UserError
from .base import TorchVectorEnv
from .echo_state import RESERVOIR_KEYS
from .mujoco_log import is_mujoco_spec, render_offscreen_without_display, route_mujoco_warnings
from .reservoir import MultiReservoirEncoder, ReservoirEncoder, ReservoirObservation
from .wrappers import MaskVelocity, MaskVelocityObservation

__all__ = ["make", "torch_entry_point", "accepted_kwargs"]

VECTORIZATION_MODES = ("vector_entry_point", "sync", "async")

_RESERVOIR_SHARED = ("use_action", "use_reward", "skip_connection", "seed")
"""Reservoir-dict keys that apply to every reservoir (the others are one reservoir's arguments)."""

# constructor arguments a TorchVectorEnv subclass fills in itself (never a user's kwarg)
_INTERNAL_ARGS = {"self", "num_envs", "single_observation_space", "single_action_space", "tasks"}


def make(
    env_id: str,
    num_envs: int | None = None,
    *,
    device=None,
    vectorization_mode: str | None = None,
    mask_velocity: bool = False,
    reservoir: dict[str, Any] | None = None,
    **kwargs: Any,
):
    """Build the env ``env_id``: one numpy env, or a batch of ``num_envs`` returning torch tensors.

    Args:
        env_id: a registered Gymnasium id (``MetaRL/*`` or any other, e.g. ``LunarLander-v3``).
        num_envs: ``None`` for one ``gymnasium.Env`` (``gym.make``, numpy in and out); else the number of rows
            ``N`` of a vector env returning torch tensors on ``device``: a MetaRL id's own
            :class:`~metarl_gym.envs.base.TorchVectorEnv`, any other id in Gymnasium's ``"sync"`` /
            ``"async"`` vector env behind ``NumpyToTorch``.
        device: torch device of the env (the single env computes on it and returns numpy).
        vectorization_mode: ``None`` (the torch entry point when there is one, else ``"sync"``),
            ``"vector_entry_point"``, ``"sync"`` or ``"async"``; only with ``num_envs``.
        mask_velocity: drop the velocity columns (``MaskVelocity`` / ``MaskVelocityObservation``).
        reservoir: ``None``, or the arguments of one reservoir encoder — ``{units, spectral_radius, leak_rate,
            input_scaling, rc_connectivity, input_connectivity, bias_scaling, seed, use_action, use_reward,
            skip_connection}`` (``ReservoirEncoder``) or ``{reservoirs: [{...}, ...], use_action, use_reward,
            skip_connection, seed}`` (``MultiReservoirEncoder``); ``ReservoirObservation`` for a single env.
        **kwargs: the env's constructor arguments (checked against its signature for MetaRL ids), plus
            ``max_episode_steps``.

    Returns:
        A ``gymnasium.Env`` (``num_envs=None``) or a ``gymnasium.vector.VectorEnv``, wrapped as asked.

    Raises:
        UserError: an unknown id (the nearest registered ids are suggested), an unknown kwarg (the accepted
            ones are listed), or an invalid option.
    """
    _check_id(env_id)
    if not isinstance(mask_velocity, (bool, np.bool_)):
        raise UserError(f"mask_velocity must be true or false, got {mask_velocity!r}")
    if reservoir is not None and not isinstance(reservoir, dict):
        raise UserError(f"reservoir must be None or a dict of reservoir encoder arguments, got {reservoir!r}")
    if vectorization_mode is not None and vectorization_mode not in VECTORIZATION_MODES:
        raise UserError(f"vectorization_mode must be None or one of {list(VECTORIZATION_MODES)}, got {vectorization_mode!r}")
    spec = gym.spec(env_id)
    if is_mujoco_spec(spec):
        if kwargs.get("render_mode") == "rgb_array":
            render_offscreen_without_display()  # before MuJoCo's import: it picks its OpenGL platform then
        route_mujoco_warnings()  # not MUJOCO_LOG.TXT in the working directory
    entry = torch_entry_point(spec)
    if entry is not None:
        _check_kwargs(env_id, entry, kwargs, single=num_envs is None)
    if reservoir is not None:
        _check_reservoir(reservoir)

    if num_envs is None:
        if vectorization_mode is not None:
            raise UserError(f"vectorization_mode={vectorization_mode!r} needs num_envs; leave it None for a single env")
        env = _call(env_id, gym.make, env_id, **({"device": device} if device is not None and entry is not None else {}), **kwargs)
        if mask_velocity:
            env = MaskVelocityObservation(env)
        if reservoir is not None:
            env = ReservoirObservation(env, **reservoir)
        return env

    if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise UserError(f"num_envs must be a positive integer (or None for a single env), got {num_envs!r}")
    num_envs = int(num_envs)
    if vectorization_mode in (None, "vector_entry_point") and entry is not None:
        env = _call(env_id, gym.make_vec, env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", device=device, **kwargs)
    elif vectorization_mode == "vector_entry_point":
        raise UserError(f"{env_id} has no torch vector entry point; use vectorization_mode 'sync' or 'async'")
    else:
        from gymnasium.wrappers.vector import NumpyToTorch

        env = _call(env_id, gym.make_vec, env_id, num_envs=num_envs, vectorization_mode=vectorization_mode or "sync", **kwargs)
        env = NumpyToTorch(env, device=device)
    if mask_velocity:
        env = MaskVelocity(env)
    if reservoir is not None:
        reservoir = dict(reservoir)
        if "reservoirs" in reservoir:
            env = MultiReservoirEncoder(env, **reservoir)
        else:
            env = ReservoirEncoder(env, **reservoir)
    return env


def torch_entry_point(spec) -> type[TorchVectorEnv] | None:
    """The :class:`TorchVectorEnv` subclass behind ``spec.vector_entry_point``, or None."""
    entry = spec.vector_entry_point
    if entry is None:
        return None
    if isinstance(entry, str):
        from gymnasium.envs.registration import load_env_creator

        try:
            entry = load_env_creator(entry)
        except ImportError:  # e.g. Gymnasium's jax envs without jax: not a torch env
            return None
    return entry if isinstance(entry, type) and issubclass(entry, TorchVectorEnv) else None


def accepted_kwargs(cls: type) -> list[str] | None:
    """Keyword arguments a TorchVectorEnv subclass accepts (following ``**kwargs`` up the MRO), or None
    when some ``__init__`` takes ``**kwargs`` it does not pass on to a parent (anything goes then)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return sorted(names - _INTERNAL_ARGS)
        if klass is TorchVectorEnv:
            break
    return None


def _check_id(env_id) -> None:
    if isinstance(env_id, str) and env_id in gym.registry:
        return
    ids = sorted(gym.registry)
    near = difflib.get_close_matches(str(env_id), ids, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(i) for i in near)}? " if near else ""
    raise UserError(f"unknown env id {env_id!r}; {hint}`metarl-gym envs` lists the MetaRL ids, gymnasium.pprint_registry() all")


def _check_kwargs(env_id: str, cls: type, kwargs: dict[str, Any], single: bool) -> None:
    accepted = accepted_kwargs(cls)
    if accepted is None:
        return
    if single:  # gym.make's TorchSingleEnv sets these itself
        accepted = [a for a in accepted if a != "autoreset_mode"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        near = difflib.get_close_matches(unknown[0], accepted, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise UserError(f"{env_id} got unknown kwarg(s) {unknown}{hint}; accepted: {accepted}")


def _check_reservoir(reservoir: dict[str, Any]) -> None:
    if "reservoirs" in reservoir:
        allowed = ("reservoirs", *_RESERVOIR_SHARED)
        items = reservoir["reservoirs"]
        if not isinstance(items, (list, tuple)) or not items or not all(isinstance(r, dict) for r in items):
            raise UserError(f"reservoir.reservoirs must be a non-empty list of dicts of reservoir arguments, got {items!r}")
        for k, item in enumerate(items):
            bad = sorted(set(item) - set(RESERVOIR_KEYS))
            if bad:
                raise UserError(f"reservoir.reservoirs.{k} has unknown key(s) {bad}; accepted: {list(RESERVOIR_KEYS)}")
    else:
        allowed = tuple(dict.fromkeys((*RESERVOIR_KEYS, *_RESERVOIR_SHARED)))
    bad = sorted(set(reservoir) - set(allowed))
    if bad:
        raise UserError(f"reservoir has unknown key(s) {bad}; accepted: {list(allowed)}")
    for key in ("use_action", "use_reward", "skip_connection"):
        if key in reservoir and not isinstance(reservoir[key], (bool, np.bool_)):
            raise UserError(f"reservoir.{key} must be true or false, got {reservoir[key]!r}")


def _call(env_id: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with constructor TypeErrors about arguments turned into a UserError."""
    try:
        return fn(*args, **kwargs)
    except TypeError as err:
        if "argument" not in str(err):
            raise
        raise UserError(f"{env_id}: {err}; check the env kwargs") from None
