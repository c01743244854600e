"""The ``metarl-gym er-mrl`` config (Léger et al. 2024): defaults of the seed.

::

    envs:                       # evolution env(s), each the shared env section plus two scores; several envs:
      - {id: MetaRL/CartPole-v1, kwargs: {}, mask_velocity: true, random_score: null, target_score: null}
      # or any Gymnasium id with a flat Box observation, e.g. {id: Swimmer-v5, kwargs: {max_episode_steps: 1000}}
    seed: 0                     # null: drawn at random and recorded in config.yaml
    device: auto                # SB3 model and env device ("auto": CUDA when available)
    workers: 1                  # PPO runs in parallel worker processes
    threads: null               # torch threads per PPO run
    reservoir: {nb_res: 1, units: 100, rc_connectivity: 0.1, input_connectivity: 0.1, bias_scaling: 1.0,
                use_action: true, use_reward: true, skip_connection: false}     # the evolved reservoirs' fixed part
    search: {generations: 10, pop_size: 8, sigma0: 0.25, x0: null, evolve_input_scaling: true, input_scaling: 1.0}
    fitness: {seeds: 3, total_timesteps: 300000, last_episodes: 10, random_episodes: 20}
    ppo: {num_envs: 1, algorithm_kwargs: {}}     # SB3 PPO arguments, checked as the baseline's
    test: {env: null, seeds: 5, total_timesteps: 1000000}
    distributed: {backend: local}              # the shared distributed section; ray runs the PPO trials on Ray actors

A Gymnasium (non-MetaRL) env is built once at resolve time to check its spaces (a flat Box observation; Box or
Discrete actions), as the trials will build it.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from pydantic import Field, create_model, field_validator, model_validator

from .base import (
    ConfigModel,
    Count,
    Invalid,
    PositiveFloat,
    SB3Device,
    Seed,
    Threads,
    draw_seed,
    validate,
)
from .baseline import check_sb3_kwargs
from .sections import DistributedSection, EnvSection

SEARCH_BOUNDS = {"spectral_radius": (1e-4, 1e2), "leak_rate": (1e-2, 1.0), "input_scaling": (1e-1, 10.0)}
"""ER-MRL's log-uniform search ranges (scripts/evolve_res.py)."""

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

Fraction = Annotated[float, Field(gt=0, le=1)]


def _check_gymnasium_env(env: ErMrlEnv) -> None:
    """A Gymnasium (non-torch) env: build it once, as the trials will, and check its spaces."""
    import gymnasium as gym

    from ..envs.make import make, torch_entry_point
    from ..errors import UserError

    if torch_entry_point(gym.spec(env.id)) is not None:
        return
    if env.mask_velocity:
        raise Invalid(f"velocity masking is for the MetaRL ids that declare velocity columns; {env.id} declares none: set it false", "mask_velocity")
    try:
        built = make(env.id, 1, **env.kwargs)
    except gym.error.DependencyNotInstalled as err:
        raise Invalid(f"{env.id} needs a package that is not installed ({err}); for the MuJoCo envs: pip install 'metarl-gym[mujoco]'", "id") from None
    except Exception as err:  # whatever the env's constructor raises (a TypeError, an assertion, a division by 0...)
        detail = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
        raise Invalid(f"{env.id} could not be built with kwargs {env.kwargs}: {detail}", "kwargs") from None
    try:
        obs, act = built.single_observation_space, built.single_action_space
    finally:
        built.close()
    if not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1:
        raise Invalid(f"{env.id} has observation space {obs}; the reservoir and PPO's MlpPolicy need a flat Box (1-D)", "id")
    if not isinstance(act, (gym.spaces.Box, gym.spaces.Discrete)):
        raise Invalid(f"{env.id} has action space {act}; ER-MRL takes Box (continuous) or Discrete actions", "id")


class ErMrlEnv(EnvSection):
    """One env of the study: the env section (no reservoir: ER-MRL evolves it) plus the scores that normalise
    its fitness. A bare id string is accepted."""

    random_score: float | None = None
    target_score: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_id(cls, data: Any) -> Any:
        return {"id": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _study_env(self):
        for key in ("reservoir", "morphologies", "vectorization_mode"):
            if getattr(self, key) is not None:
                raise Invalid("is set by the ER-MRL study itself (the reservoir is evolved, Gymnasium ids run in a sync "
                              "vector env); leave it out", key)
        _check_gymnasium_env(self)
        return self


class ReservoirSection(ConfigModel):
    """``reservoir:``: the fixed part of the evolved reservoirs."""

    nb_res: Count = 1
    units: Count = 100
    rc_connectivity: Fraction = 0.1
    input_connectivity: Fraction = 0.1
    bias_scaling: Annotated[float, Field(ge=0)] = 1.0
    use_action: bool = True
    use_reward: bool = True
    skip_connection: bool = False


StartingPoint = create_model(
    "StartingPoint",
    __base__=ConfigModel,
    **{name: (Annotated[float, Field(ge=lo, le=hi)] | None, None) for name, (lo, hi) in SEARCH_BOUNDS.items()},
)
"""``search.x0``: where CMA-ES starts, per hyper-parameter (null: the centre of its log range)."""


class SearchSection(ConfigModel):
    """``search:``: the CMA-ES over the reservoirs' hyper-parameters."""

    generations: Count = 10
    pop_size: Annotated[int, Field(ge=3, description="pycma needs 3 or more candidates without mirrored sampling")] = 8
    sigma0: Fraction = 0.25
    x0: StartingPoint | None = None
    evolve_input_scaling: bool = True
    input_scaling: PositiveFloat = 1.0


class FitnessSection(ConfigModel):
    """``fitness:``: how one candidate is scored (PPO on its reservoir, several seeds)."""

    seeds: Count = 3
    total_timesteps: Count = 300_000
    last_episodes: Count = 10
    random_episodes: Count = 20


class PPOSection(ConfigModel):
    """``ppo:``: the PPO that learns on each reservoir (arguments checked as a baseline's ``algorithm_kwargs``)."""

    num_envs: Count = 1
    algorithm_kwargs: dict[str, Any] = {}

    @model_validator(mode="after")
    def _sb3(self):
        self.algorithm_kwargs = check_sb3_kwargs("ppo", self.algorithm_kwargs, self.num_envs)
        return self


class TestSection(ConfigModel):
    """``test:``: the best reservoir + PPO against plain PPO, on ``env`` (null: the first evolution env)."""

    __test__ = False  # not a pytest class

    env: ErMrlEnv | None = None
    seeds: Count = 5
    total_timesteps: Count = 1_000_000


class ErMrlConfig(ConfigModel):
    """A ``metarl-gym er-mrl`` config (see the module docstring)."""

    envs: Annotated[list[ErMrlEnv], Field(min_length=1)] = [{"id": "MetaRL/CartPole-v1", "mask_velocity": True}]
    seed: Seed = 0
    device: SB3Device = "auto"
    workers: Count = 1
    threads: Threads = None
    reservoir: ReservoirSection = Field(default_factory=dict)
    search: SearchSection = Field(default_factory=dict)
    fitness: FitnessSection = Field(default_factory=dict)
    ppo: PPOSection = Field(default_factory=dict)
    test: TestSection = Field(default_factory=dict)
    distributed: DistributedSection = Field(default_factory=dict)

    @field_validator("envs", mode="before")
    @classmethod
    def _a_list(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise Invalid(f"must be a list of env entries, e.g. [{{id: MetaRL/CartPole-v1}}], got {value!r}")
        return value

    @model_validator(mode="after")
    def _study(self):
        if self.seed is None:
            self.seed = draw_seed()
        if self.test.env is None:
            self.test.env = copy.deepcopy(self.envs[0])
        if len(self.envs) > 1:
            for i, env in enumerate(self.envs):
                if env.target_score is None:
                    if env.id not in TARGET_SCORES:
                        raise Invalid(
                            f"needed to normalise the fitness over several envs, and there is no default for {env.id} "
                            f"(defaults: {sorted(TARGET_SCORES)}): set it to a good episode return of that env; the fitness "
                            "is the mean over envs of (score - random_score) / (target_score - random_score)",
                            f"envs.{i}.target_score",
                        )
                    env.target_score = TARGET_SCORES[env.id]
                if env.random_score is not None and env.random_score == env.target_score:
                    raise Invalid(f"must differ from random_score ({env.random_score}) to normalise", f"envs.{i}.target_score")
        return self


def resolve_er_mrl_config(config: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every key checked (``seed`` and ``device`` made concrete); raises
    :class:`~metarl_gym.config.ConfigError` naming the key path, what is allowed and, for a misspelled key, the
    nearest accepted one. Idempotent."""
    return validate(ErMrlConfig, config)


__all__ = ["RESUME_MAY_CHANGE", "SEARCH_BOUNDS", "TARGET_SCORES", "ErMrlConfig", "resolve_er_mrl_config"]
