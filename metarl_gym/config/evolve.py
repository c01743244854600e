"""The ``metarl-gym evolve`` config.

::

    env: {id: MetaRL/CartPole-v1, kwargs: {}, mask_velocity: false, ...}   # the shared env section (sections.py)
    policy: {name: mlp, kwargs: {hidden_sizes: [16], activation: tanh}}  # kwargs checked against the policy's signature
    strategy: {name: ga, pop_size: 100, kwargs: {selection: truncation, ...}}
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
    distributed: {backend: local, ...}   # the shared distributed section (sections.py)
    logging: {tensorboard: false}        # true: TensorBoard scalars per generation in <run>/tensorboard

With no config, ``metarl-gym evolve`` runs a GA on MetaRL/CartPole-v1 (a few seconds on 2 cores). A policy or
strategy section that leaves ``kwargs`` out gets :data:`DEFAULT_POLICY_KWARGS` / :data:`DEFAULT_STRATEGY_KWARGS`
of its ``name``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from .base import (
    BoolOrAuto,
    ConfigModel,
    Count,
    Device,
    Integer,
    Invalid,
    Seed,
    check_kwargs,
    suggest,
    validate,
)
from .sections import DistributedSection, EnvSection

DEFAULT_POLICY_KWARGS = {"mlp": {"hidden_sizes": [16], "activation": "tanh"}}
"""``policy.kwargs`` of a policy section that names no kwargs."""

DEFAULT_STRATEGY_KWARGS = {"ga": {"selection": "truncation", "num_survivors": 20, "elitism": 5, "mutation_prob": 0.1, "mutation_std": 0.3}}
"""``strategy.kwargs`` of a strategy section that names no kwargs (tuned for the default CartPole run)."""


class RegisteredSection(ConfigModel):
    """A ``{name, kwargs}`` section: ``name`` one of a registry's entries, ``kwargs`` checked against that class's
    signature (less ``BUILDER_ARGS``, which the builder passes itself); a section that leaves ``kwargs`` out gets
    ``DEFAULT_KWARGS[name]`` (or none)."""

    DEFAULT_KWARGS: ClassVar[dict[str, dict[str, Any]]] = {}
    BUILDER_ARGS: ClassVar[tuple[str, ...]] = ()

    name: str
    kwargs: dict[str, Any] = {}

    @staticmethod
    def registry() -> dict[str, type]:
        """Config name -> class (imported when first needed: the registries load torch); each subclass names its own."""
        raise NotImplementedError("a RegisteredSection subclass names its registry (PolicySection: POLICIES, StrategySection: STRATEGIES)")

    @model_validator(mode="before")
    @classmethod
    def _default_kwargs(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kwargs" not in data:
            name = data.get("name", cls.model_fields["name"].default)
            data = {**data, "kwargs": cls.DEFAULT_KWARGS.get(name, {})}
        return data

    @field_validator("name")
    @classmethod
    def _registered(cls, value: str) -> str:
        names = sorted(cls.registry())
        if value not in names:
            raise Invalid(f"{value!r} is not allowed; allowed values: {names}{suggest(value, names)}")
        return value

    @model_validator(mode="after")
    def _arguments(self):
        self.kwargs = check_kwargs(self.kwargs, self.registry()[self.name], exclude=self.BUILDER_ARGS)
        return self


class PolicySection(RegisteredSection):
    """``policy:``: a registered policy (``metarl_gym.agents.POLICIES``) and its constructor arguments."""

    DEFAULT_KWARGS = DEFAULT_POLICY_KWARGS
    BUILDER_ARGS = ("observation_space", "action_space")

    name: str = "mlp"

    @staticmethod
    def registry() -> dict[str, type]:
        from ..agents import POLICIES

        return POLICIES


class StrategySection(RegisteredSection):
    """``strategy:``: a registered strategy (``metarl_gym.evolution.STRATEGIES``), its population and arguments."""

    DEFAULT_KWARGS = DEFAULT_STRATEGY_KWARGS
    BUILDER_ARGS = ("num_params", "pop_size", "seed", "device")

    name: str = "ga"
    pop_size: Annotated[Integer, Field(ge=2)] = 100

    @staticmethod
    def registry() -> dict[str, type]:
        from ..evolution import STRATEGIES

        return STRATEGIES


class EarlyStop(ConfigModel):
    """``rollout.early_stop``: stop a row after ``patience`` steps without reward progress, from step ``after`` on."""

    patience: Count
    after: Annotated[Integer, Field(ge=0)] = 0


class RolloutSection(ConfigModel):
    """``rollout:``: how :func:`metarl_gym.evolution.rollout` runs the population."""

    REMOVED = {
        "episodes": "episodes per evaluation are the top-level key `episodes`; set episodes: N",
        "fast": "rollout.fast was removed: use rollout.engine: blocked, rollout.block_size: N and rollout.compile: true|false|auto",
    }

    early_stop: EarlyStop | None = None
    engine: Literal["auto", "loop", "blocked"] = "auto"
    block_size: Count | None = None
    compile: BoolOrAuto = "auto"


class LoggingSection(ConfigModel):
    """``logging:``."""

    tensorboard: bool = False


class EvolveConfig(ConfigModel):
    """A ``metarl-gym evolve`` config (see the module docstring)."""

    env: EnvSection = Field(default_factory=dict)
    policy: PolicySection = Field(default_factory=dict)
    strategy: StrategySection = Field(default_factory=dict)
    generations: Count = 20
    episodes: Count = 1
    seed: Seed = 0
    device: Device = "cpu"
    checkpoint_every: Count = 1
    rollout: RolloutSection = Field(default_factory=dict)
    distributed: DistributedSection = Field(default_factory=dict)
    logging: LoggingSection = Field(default_factory=dict)


def resolve_evolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every key checked; raises :class:`~metarl_gym.config.ConfigError` naming the key path.

    Idempotent: resolving a resolved config gives it back unchanged. A null ``seed`` stays null here (the runner
    draws it and records it in the run's config.yaml).
    """
    return validate(EvolveConfig, config)


__all__ = ["DEFAULT_POLICY_KWARGS", "DEFAULT_STRATEGY_KWARGS", "EvolveConfig", "resolve_evolve_config"]
