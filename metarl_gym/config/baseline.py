"""The ``metarl-gym baseline`` config, and the checks of Stable-Baselines3 arguments it shares with ER-MRL.

::

    algorithm: ppo                 # ppo, a2c, sac, td3
    env: {id: MetaRL/CartPole-v1, kwargs: {}, mask_velocity: false, reservoir: null}   # the shared env section
    num_envs: 8
    total_timesteps: 100000
    seed: 0                        # null: drawn at random and recorded in config.yaml
    device: auto                   # SB3 model and env device ("auto": CUDA when available)
    algorithm_kwargs: {}           # SB3 constructor arguments; "lin_<x>" strings are linear schedules
                                   # (learning_rate, clip_range); policy_kwargs.activation_fn by name ("tanh", "relu")
    log_interval_steps: null       # a metrics row at most every this many env steps (null: one PPO/A2C rollout,
                                   # 1000 steps for SAC/TD3)
    threads: null                  # torch CPU threads (torch.set_num_threads); null keeps torch's default

SB3 itself checks few of its arguments (``gamma: 2`` trained silently, ``n_steps: 0`` and ``batch_size: 1`` died in
an assertion): :func:`check_sb3_kwargs` checks them against :data:`HYPERPARAMETER_RANGES`.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import (
    ConfigModel,
    Count,
    Invalid,
    SB3Device,
    Seed,
    Threads,
    check_kwargs,
    describe,
    draw_seed,
    join,
    suggest,
    validate,
)
from .sections import EnvSection

ALGORITHM_NAMES = ("a2c", "ppo", "sac", "td3")
"""Config names of the SB3 algorithms (``metarl_gym.baselines.run.ALGORITHMS`` maps them to the classes)."""

ON_POLICY = ("ppo", "a2c")

ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "elu": "ELU", "leaky_relu": "LeakyReLU", "gelu": "GELU"}
"""Names accepted for ``policy_kwargs.activation_fn`` -> the ``torch.nn`` class name."""

SB3_BUILDER_ARGS = ("policy", "env", "seed", "device", "verbose", "_init_setup_model")
"""SB3 constructor arguments the builders set themselves."""

HYPERPARAMETER_RANGES: dict[str, tuple[str, float | None, float | None, bool]] = {
    # key: (kind, min, max, min exclusive); kind "int" or "float" (ints accepted), "?": null allowed; None: no bound
    "learning_rate": ("float", 0, None, True),
    "n_steps": ("int", 1, None, False),
    "batch_size": ("int", 1, None, False),
    "n_epochs": ("int", 1, None, False),
    "gamma": ("float", 0, 1, False),
    "gae_lambda": ("float", 0, 1, False),
    "clip_range": ("float", 0, None, True),
    "clip_range_vf": ("float?", 0, None, True),
    "vf_coef": ("float", 0, None, False),
    "max_grad_norm": ("float", 0, None, True),
    "target_kl": ("float?", 0, None, True),
    "rms_prop_eps": ("float", 0, None, True),
    "buffer_size": ("int", 1, None, False),
    "learning_starts": ("int", 0, None, False),
    "tau": ("float", 0, 1, True),
    "gradient_steps": ("int", -1, None, False),
    "target_update_interval": ("int", 1, None, False),
    "policy_delay": ("int", 1, None, False),
    "target_policy_noise": ("float", 0, None, False),
    "target_noise_clip": ("float", 0, None, False),
    "sde_sample_freq": ("int", -1, None, False),
    "stats_window_size": ("int", 1, None, False),
}
"""Ranges of the SB3 hyper-parameters a config may set."""


def algorithm_class(name: str):
    """The SB3 class of an algorithm name (SB3 is imported here, not when a config module is)."""
    import stable_baselines3

    return getattr(stable_baselines3, name.upper())


def parse_schedule(value: str, key: str = ""):
    """rl-zoo's ``lin_<start>`` as SB3's own ``LinearSchedule`` from ``start`` at the beginning of training to 0
    (the one schedule parser of every config); :class:`Invalid` at ``key`` otherwise."""
    if not value.startswith("lin_"):
        raise Invalid(f"a string value must be a linear schedule 'lin_<start>' such as 'lin_0.001', got {value!r}", key)
    try:
        start = float(value[4:])
    except ValueError:
        raise Invalid(f"'lin_<start>' needs a number after 'lin_', got {value!r}", key) from None
    if not (math.isfinite(start) and start > 0):
        raise Invalid(f"'lin_<start>' needs a finite start > 0, got {value!r}", key)
    from stable_baselines3.common.utils import LinearSchedule

    return LinearSchedule(start, 0.0, 1.0)


def _check_range(key: str, value: Any, kind: str, low: float | None, high: float | None, low_exclusive: bool) -> None:
    if kind.endswith("?") and value is None:
        return
    is_int = isinstance(value, int) and not isinstance(value, bool)
    ok_type = is_int if kind == "int" else (is_int or (isinstance(value, float) and math.isfinite(value)))
    below = low is not None and ok_type and (value <= low if low_exclusive else value < low)
    above = high is not None and ok_type and value > high
    if not ok_type or below or above:
        what = "an integer" if kind == "int" else "a finite number"
        if low is not None:
            what += f" {'>' if low_exclusive else '>='} {low}"
        if high is not None:
            what += f" and <= {high}"
        if key.endswith("gradient_steps"):
            what += " (-1: as many as env steps)"
        raise Invalid(f"must be {what}, got {value!r}", key)


def _check_net_arch(net_arch: Any, algorithm: str, key: str) -> None:
    """``net_arch``: a list of layer widths (>= 1), or a dict of them per network (pi / vf, pi / qf)."""
    nets = ("pi", "vf") if algorithm in ON_POLICY else ("pi", "qf")

    def check_list(value: Any, where: str) -> None:
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
            raise Invalid(f"must be a list of layer widths, each an integer >= 1 (e.g. [64, 64]), got {value!r}", where)

    if isinstance(net_arch, dict):
        for net, value in net_arch.items():
            if net not in nets:
                raise Invalid(f"unknown network; {algorithm} takes {list(nets)}", f"{key}.{net}")
            check_list(value, f"{key}.{net}")
    else:
        check_list(net_arch, key)


def _check_policy_kwargs(policy_kwargs: Any, cls, key: str) -> None:
    if policy_kwargs is None:
        return
    if not isinstance(policy_kwargs, dict):
        raise Invalid(f"must be a mapping, got {describe(policy_kwargs)}", key)
    policy_cls = cls.policy_aliases["MlpPolicy"]
    accepted = sorted(set(inspect.signature(policy_cls.__init__).parameters) - {"self", "observation_space", "action_space", "lr_schedule"})
    for arg, value in policy_kwargs.items():
        if arg not in accepted:
            raise Invalid(f"is not an argument of SB3 {policy_cls.__name__} (the {cls.__name__} MlpPolicy); accepted: "
                          f"{accepted}{suggest(arg, accepted)}", f"{key}.{arg}")
        if arg.endswith("_class") and value is not None:
            raise Invalid("takes a Python class, which a YAML config cannot name; leave it out", f"{key}.{arg}")
    act = policy_kwargs.get("activation_fn")
    if act is not None and not (isinstance(act, str) and act.lower() in ACTIVATIONS):
        raise Invalid(f"must be one of {sorted(ACTIVATIONS)}, got {act!r}", f"{key}.activation_fn")


def check_sb3_kwargs(algorithm: str, kwargs: Any, num_envs: int, key: str = "algorithm_kwargs") -> dict[str, Any]:
    """SB3 constructor arguments of ``algorithm`` from a config: names against the signature, hyper-parameter
    ranges, ``lin_<x>`` schedules, ``policy_kwargs`` (``net_arch``, ``activation_fn`` by name) and the sizes SB3
    asserts on (``n_steps x num_envs > 1``, ``batch_size > 1``); :class:`Invalid` at ``key.<name>``."""
    cls = algorithm_class(algorithm)
    schedules = {}
    if isinstance(kwargs, dict):  # strings SB3 does not take itself: checked here, not against its annotations
        schedules = {arg: kwargs[arg] for arg in ("learning_rate", "clip_range") if isinstance(kwargs.get(arg), str)}
        for arg, value in schedules.items():
            parse_schedule(value, join(key, arg))
    kwargs = check_kwargs({k: v for k, v in (kwargs or {}).items() if k not in schedules} if isinstance(kwargs, dict) else kwargs,
                          cls, exclude=SB3_BUILDER_ARGS, key=key)
    for arg, value in kwargs.items():
        if arg in HYPERPARAMETER_RANGES:
            _check_range(join(key, arg), value, *HYPERPARAMETER_RANGES[arg])
    if algorithm in ON_POLICY and "ent_coef" in kwargs:
        _check_range(join(key, "ent_coef"), kwargs["ent_coef"], "float", 0, None, False)
    if algorithm in ON_POLICY and kwargs.get("normalize_advantage", True):
        n_steps = kwargs.get("n_steps", inspect.signature(cls.__init__).parameters["n_steps"].default)
        if n_steps * num_envs < 2:
            raise Invalid(f"n_steps x num_envs = {n_steps} x {num_envs} must be > 1 (advantages are normalised over a "
                          "rollout); raise n_steps or num_envs", join(key, "n_steps"))
        if algorithm == "ppo" and kwargs.get("batch_size", 64) < 2:
            raise Invalid(f"must be > 1 (advantages are normalised over a minibatch), got {kwargs['batch_size']!r}", join(key, "batch_size"))
    _check_policy_kwargs(kwargs.get("policy_kwargs"), cls, join(key, "policy_kwargs"))
    net_arch = (kwargs.get("policy_kwargs") or {}).get("net_arch")
    if net_arch is not None:
        _check_net_arch(net_arch, algorithm, join(key, "policy_kwargs", "net_arch"))
    return {**kwargs, **schedules}


class BaselineConfig(ConfigModel):
    """A ``metarl-gym baseline`` config (see the module docstring)."""

    REMOVED = {
        "mask_velocity": "moved into the env section (one spelling for every command): write env.mask_velocity",
        "reservoir": "moved into the env section (one spelling for every command): write env.reservoir",
    }

    algorithm: Literal[ALGORITHM_NAMES] = "ppo"
    env: EnvSection = Field(default_factory=dict)
    num_envs: Count = 1
    total_timesteps: Count = 100_000
    seed: Seed = 0
    device: SB3Device = "auto"
    algorithm_kwargs: dict[str, Any] = {}
    log_interval_steps: Count | None = None
    threads: Threads = None

    @field_validator("algorithm", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("env", mode="before")
    @classmethod
    def _bare_id(cls, value: Any) -> Any:
        return {"id": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _sb3(self):
        if self.env.morphologies is not None:
            raise Invalid("is an evolve option (one lifetime per morphology); an SB3 baseline trains on one env: leave it out",
                          "env.morphologies")
        self.algorithm_kwargs = check_sb3_kwargs(self.algorithm, self.algorithm_kwargs, self.num_envs)
        if self.seed is None:
            self.seed = draw_seed()
        return self


def resolve_baseline_config(config: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in, every key checked (a null seed drawn); raises :class:`~metarl_gym.config.ConfigError`
    naming the key path. Idempotent."""
    return validate(BaselineConfig, config)


__all__ = [
    "ACTIVATIONS",
    "ALGORITHM_NAMES",
    "HYPERPARAMETER_RANGES",
    "BaselineConfig",
    "algorithm_class",
    "check_sb3_kwargs",
    "parse_schedule",
    "resolve_baseline_config",
]
