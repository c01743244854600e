"""The ER-MRL config: one declarative schema (:mod:`metarl_gym.schema`), defaults of the seed, resume checks.

::

    envs:                       # evolution env(s); several -> normalised (generalisation) fitness
      - {id: MetaRL/CartPole-v1, kwargs: {}, mask_velocity: true, random_score: null, target_score: null}
      # or any Gymnasium id with a flat Box observation, e.g. {id: Swimmer-v5, kwargs: {max_episode_steps: 1000}}
    seed: 0                     # null: drawn at random and recorded in config.yaml
    device: auto                # SB3 model and env device ("auto": CUDA when available)
    workers: 1                  # PPO runs in parallel worker processes
    threads: null               # torch threads per PPO run
    reservoir: {nb_res: 1, units: 100, rc_connectivity: 0.1, input_connectivity: 0.1, bias_scaling: 1.0,
                use_action: true, use_reward: true, skip_connection: false}
    search: {generations: 10, pop_size: 8, sigma0: 0.25, x0: null, evolve_input_scaling: true, input_scaling: 1.0}
    fitness: {seeds: 3, total_timesteps: 300000, last_episodes: 10, random_episodes: 20}
    ppo: {num_envs: 1, algorithm_kwargs: {}}     # SB3 PPO arguments ("lin_<x>" strings: linear schedules)
    test: {env: null, seeds: 5, total_timesteps: 1000000}
    distributed: {backend: local}              # CONTRACTS §4; backend: ray runs the PPO trials on Ray actors

Every key is checked (unknown keys at every level, types, ranges, finiteness; env and PPO kwargs against the
constructor signatures) with a :class:`~metarl_gym.schema.ConfigError` naming the key path.

Env ids: the torch-batched ``MetaRL/*`` ids, or any other registered Gymnasium id (the MuJoCo locomotion envs
``Swimmer-v5``, ``HalfCheetah-v5``, ``Hopper-v5``... of ER-MRL's experiments, with the ``mujoco`` extra). Both go
the same way (:func:`metarl_gym.envs.make`): a Gymnasium id runs in Gymnasium's sync vector env behind
``NumpyToTorch``, under the same reservoir encoder and SB3 adapter. A Gymnasium id's kwargs are checked against
``gym.make`` (``max_episode_steps``, ``disable_env_checker``) and its entry point's constructor, and the env is
built once at resolve time to check its spaces (flat Box observation; Box or Discrete action).
"""

from __future__ import annotations

import copy
import difflib
import inspect
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
    draw_seed,
    signature_parameters,
)
from .search_space import SEARCH_BOUNDS

TARGET_SCORES = {
    "MetaRL/CartPole-v1": 500.0,
    "MetaRL/PendulumSwingup-v1": -200.0,
    "MetaRL/Pendulum-v0": 4000.0,
    # ER-MRL's targets for the Gymnasium MuJoCo envs (scripts/evolve_generalization.py), for 1000-step episodes:
    # set target_score yourself when env.kwargs shortens the episodes (max_episode_steps)
    **{
        f"{name}-v{version}": target
        for name, target in (
            ("Ant", 125.0), ("HalfCheetah", 750.0), ("Hopper", 1250.0), ("Humanoid", 375.0),
            ("HumanoidStandup", 7500.0), ("Swimmer", 60.0), ("Walker2d", 800.0),
        )
        for version in (4, 5)
    },
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


def _gymnasium_ids() -> list[str]:
    return sorted(i for i in gym.registry if not i.startswith("MetaRL/"))


def _is_torch_id(env_id: str) -> bool:
    from ...envs.make import torch_entry_point

    return torch_entry_point(gym.spec(env_id)) is not None


def _check_env_id(value: str, path: str) -> str:
    ids = _torch_ids()
    if value in ids or (value in gym.registry and not value.startswith("MetaRL/")):
        return value
    near = difflib.get_close_matches(value, ids + _gymnasium_ids(), n=1, cutoff=0.5)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise ConfigError(
        path,
        f"must be a registered env id{hint}: a torch-batched MetaRL id, one of {ids}, or a Gymnasium id with a flat Box "
        f"observation such as 'Swimmer-v5' or 'HalfCheetah-v5' (gymnasium.pprint_registry() lists them); got {value!r}",
    )


_MAKE_KWARGS = {"max_episode_steps": int | None, "disable_env_checker": bool | None}
"""``gym.make``'s own keyword arguments that an env entry may set (the others are the builder's)."""


def _gymnasium_constructor(env_id: str):
    """A stand-in whose signature is what ``gym.make(env_id, **kwargs)`` accepts: ``gym.make``'s own keywords and
    the entry point's constructor arguments (for :class:`Kwargs`); None when that cannot be told (an entry point
    taking ``**kwargs`` all the way, or one that does not import: the build check reports that)."""
    from gymnasium.envs.registration import load_env_creator

    entry = gym.spec(env_id).entry_point
    try:
        entry = load_env_creator(entry) if isinstance(entry, str) else entry
    except Exception:  # a missing dependency (mujoco, box2d): reported by _check_gymnasium_env
        return None
    if not callable(entry):
        return None
    functions = [vars(k)["__init__"] for k in entry.__mro__ if "__init__" in vars(k) and k is not object] if inspect.isclass(entry) else [entry]
    if all(any(p.kind is p.VAR_KEYWORD for p in inspect.signature(f).parameters.values()) for f in functions):
        return None
    params, _ = signature_parameters(entry)
    params = {**_MAKE_KWARGS, **params}

    def constructor(**kwargs):  # only its signature is read
        raise NotImplementedError

    constructor.__signature__ = inspect.Signature([inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in params])
    constructor.__annotations__ = {n: h for n, h in params.items() if h is not inspect.Parameter.empty}
    constructor.__name__ = f"{env_id} (gym.make / {getattr(entry, '__name__', 'entry point')})"
    return constructor


def _env_class(section: dict[str, Any]):
    from ...envs.make import torch_entry_point

    return torch_entry_point(gym.spec(section["id"])) or _gymnasium_constructor(section["id"])


def _check_gymnasium_env(entry: dict[str, Any], path: str) -> dict[str, Any]:
    """A Gymnasium (non-torch) env entry: build it once, as the trials will, and check its spaces."""
    if _is_torch_id(entry["id"]):
        return entry
    from ...envs.make import make
    from ...errors import UserError

    env_id = entry["id"]
    if entry["mask_velocity"]:
        raise ConfigError(f"{path}.mask_velocity", f"velocity masking is for the MetaRL ids that declare velocity columns; {env_id} declares none: set it false")
    try:
        env = make(env_id, 1, **entry["kwargs"])
    except gym.error.DependencyNotInstalled as err:
        raise ConfigError(f"{path}.id", f"{env_id} needs a package that is not installed ({err}); for the MuJoCo envs: pip install 'metarl-gym[mujoco]'") from None
    except Exception as err:  # whatever the env's constructor raises (a TypeError, an assertion, a division by 0...)
        detail = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
        raise ConfigError(f"{path}.kwargs", f"{env_id} could not be built with kwargs {entry['kwargs']}: {detail}") from None
    try:
        obs, act = env.single_observation_space, env.single_action_space
    finally:
        env.close()
    if not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1:
        raise ConfigError(f"{path}.id", f"{env_id} has observation space {obs}; the reservoir and PPO's MlpPolicy need a flat Box (1-D)")
    if not isinstance(act, (gym.spaces.Box, gym.spaces.Discrete)):
        raise ConfigError(f"{path}.id", f"{env_id} has action space {act}; ER-MRL takes Box (continuous) or Discrete actions")
    return entry


def _check_device(value: str, path: str) -> str:
    return value if value == "auto" else check_device(value, path)


def _check_ppo_kwargs(kwargs: dict[str, Any], path: str) -> dict[str, Any]:
    """Strings where SB3 wants numbers or schedules: ``lin_<start>``; activation functions by name."""
    from ..run import ACTIVATIONS, parse_schedule  # (SB3 loads only when an ER-MRL config is checked)

    for key in ("learning_rate", "clip_range"):
        value = kwargs.get(key)
        if isinstance(value, str):
            parse_schedule(value, f"{path}.{key}")
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
                "id": Str(check=_check_env_id, doc="a MetaRL/* id, e.g. MetaRL/CartPole-v1, or a Gymnasium id, e.g. Swimmer-v5"),
                "kwargs": Kwargs(_env_class, exclude=_ENV_BUILDER_ARGS),
                "mask_velocity": Bool(False),
                "random_score": Float(None),
                "target_score": Float(None),
            },
            check=_check_gymnasium_env,
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
        config["seed"] = draw_seed()
    if config["device"] == "auto":
        from stable_baselines3.common.utils import get_device

        config["device"] = str(get_device("auto"))
    if config["test"]["env"] is None:
        config["test"]["env"] = copy.deepcopy(config["envs"][0])
    if len(config["envs"]) > 1:
        for i, env in enumerate(config["envs"]):
            if env["target_score"] is None:
                if env["id"] not in TARGET_SCORES:
                    raise ConfigError(
                        f"envs.{i}.target_score",
                        f"needed to normalise the fitness over several envs, and there is no default for {env['id']} "
                        f"(defaults: {sorted(TARGET_SCORES)}): set it to a good episode return of that env; the fitness "
                        "is the mean over envs of (score - random_score) / (target_score - random_score)",
                    )
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
                "pop_size": Int(8, min=3, doc="pycma needs 3 or more candidates without mirrored sampling"),
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
                "num_envs": Int(1, min=1),
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
