"""``metarl-gym baseline``: train a Stable-Baselines3 agent (PPO, A2C, SAC, TD3) on a MetaRL env.

The env is the very same registered torch batch the evolution runs use (``gym.make_vec(id, num_envs,
vectorization_mode="vector_entry_point")``), optionally velocity-masked and reservoir-encoded (ER-MRL, Léger et
al. 2024, arXiv 2312.06695), seen by SB3 through :class:`~metarl_gym.baselines.sb3.SB3VecEnv`; so RL and
evolution compare on identical dynamics, seeds and step budgets.

A config (YAML, every key optional but ``env.id``)::

    algorithm: ppo                 # ppo, a2c, sac, td3
    env: {id: MetaRL/CartPole-v1, kwargs: {}, vectorization_mode: null}   # sync / async: any Gymnasium id
    mask_velocity: false           # drop the velocity columns (MaskVelocity)
    reservoir: null                # or ReservoirEncoder kwargs: {units: 100, spectral_radius: 0.9, ...}
                                   # or {reservoirs: [{...}, {...}], use_action: true, ...} (MultiReservoirEncoder)
    num_envs: 8
    total_timesteps: 100000
    seed: 0
    device: auto                   # SB3 model and env device ("auto": CUDA when available)
    algorithm_kwargs: {}           # SB3 constructor arguments; "lin_<x>" strings are linear schedules
                                   # (learning_rate, clip_range); policy_kwargs.activation_fn by name ("tanh", "relu")
    log_interval_steps: null       # a metrics row at most every this many env steps (null: one PPO/A2C rollout,
                                   # 1000 steps for SAC/TD3)
    threads: null                  # torch CPU threads (torch.set_num_threads); null keeps torch's default. Small
                                   # MLPs train fastest on 1 thread, and far faster on 1 than on 2 busy cores.

The run directory (shared with ``metarl-gym evolve``)::

    config.yaml    the resolved config
    metrics.csv    env_steps,wall_s,mean,median,best,worst,episodes — statistics of the episode returns finished
                   since the previous row (rows written and flushed during training)
    model.zip      the trained SB3 model (``ALGORITHMS[algorithm].load``)
"""

from __future__ import annotations

import copy
import csv
import inspect
import math
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import LinearSchedule, get_device
from stable_baselines3.common.vec_env import VecMonitor

from ..envs.make import make
from ..errors import UserError
from ..memory import check_baseline_memory
from ..run_dir import RunDir
from ..schema import MISSING, AnyValue, Bool, ConfigError, Int, Kwargs, Section, Seed, Str, check_device, draw_seed
from .sb3 import SB3VecEnv

ALGORITHMS = {"ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3}
"""Config name -> SB3 algorithm class."""

CONTINUOUS_ONLY = {"sac", "td3"}

ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "elu": torch.nn.ELU, "leaky_relu": torch.nn.LeakyReLU, "gelu": torch.nn.GELU}
"""Names accepted for ``algorithm_kwargs.policy_kwargs.activation_fn``."""

BASELINE_DEFAULTS: dict[str, Any] = {
    "algorithm": "ppo",
    "env": {"id": None, "kwargs": {}},
    "mask_velocity": False,
    "reservoir": None,
    "num_envs": 1,
    "total_timesteps": 100_000,
    "seed": 0,
    "device": "auto",
    "algorithm_kwargs": {},
    "log_interval_steps": None,
    "threads": None,
}

METRICS_COLUMNS = ("env_steps", "wall_s", "mean", "median", "best", "worst", "episodes")


# ---------------------------------------------------------------------------------------------- config
def _algorithm_class(section: dict[str, Any]):
    return ALGORITHMS[section["algorithm"]]


def _check_torch_id(value: str, path: str, vectorization_mode: str | None = None) -> str:
    """A torch-batched id; with ``vectorization_mode`` sync / async any registered Gymnasium id."""
    torch_ids = _torch_env_ids()
    if vectorization_mode in ("sync", "async") and value in gym.registry:
        return value
    if value not in torch_ids:
        import difflib

        near = difflib.get_close_matches(value, torch_ids, n=1, cutoff=0.5)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        other = " (other Gymnasium ids run with env.vectorization_mode: sync)" if value in gym.registry else ""
        raise ConfigError(path, f"must be a registered torch-batched env id, one of {torch_ids}, got {value!r}{hint}{other}")
    return value


def _check_sb3_device(value: str, path: str) -> str:
    if value == "auto":
        return str(get_device("auto"))
    try:
        return str(get_device(check_device(value, path)))
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ConfigError(path, f"must be 'auto' or a torch device name such as 'cpu' or 'cuda:0' ({exc})") from None


def _env_kwargs_class(section: dict[str, Any]):
    from ..envs.make import torch_entry_point

    return torch_entry_point(gym.spec(section["id"]))


def baseline_schema() -> Section:
    """The :class:`~metarl_gym.schema.Section` of a baseline config (``BASELINE_DEFAULTS`` are its defaults)."""
    return Section({
        "algorithm": Str("ppo", choices=sorted(ALGORITHMS)),
        "env": Section({
            "id": Str(MISSING, doc="a MetaRL/* id (any registered id with vectorization_mode sync / async)"),
            "kwargs": Kwargs(_env_kwargs_class, exclude=("num_envs", "device", "render_mode", "single_observation_space", "single_action_space")),
            "mask_velocity": Bool(None),
            "vectorization_mode": Str(None, choices=["vector_entry_point", "sync", "async"]),
        }),
        "mask_velocity": Bool(False),
        "reservoir": AnyValue(None),
        "num_envs": Int(1, min=1),
        "total_timesteps": Int(100_000, min=1),
        "seed": Seed(0),
        "device": Str("auto", check=_check_sb3_device),
        "algorithm_kwargs": Kwargs(_algorithm_class, exclude=("policy", "env", "seed", "device", "_init_setup_model")),
        "log_interval_steps": Int(None, min=1),
        "threads": Int(None, min=1),
    })


def resolve_baseline_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and validate; raises :class:`ConfigError` (a ``UserError``) naming the key path.

    Args:
        config: the loaded YAML (overrides applied).

    Returns:
        A new dict with every key of ``BASELINE_DEFAULTS`` (``env.mask_velocity``, evolve's spelling, is moved
        to the top-level ``mask_velocity``).
    """
    if not isinstance(config, dict):
        raise ConfigError("<root>", f"a baseline config must be a mapping, got {type(config).__name__}")
    config = copy.deepcopy(config)
    if isinstance(config.get("env"), str):
        config["env"] = {"id": config["env"]}
    if isinstance(config.get("algorithm"), str):
        config["algorithm"] = config["algorithm"].lower()
    if isinstance(config.get("algorithm"), str) and config["algorithm"] not in ALGORITHMS:
        raise ConfigError("algorithm", f"must be one of {sorted(ALGORITHMS)}, got {config['algorithm']!r}")
    if isinstance(config.get("env"), dict) and isinstance(config["env"].get("id"), str):
        _check_torch_id(config["env"]["id"], "env.id", config["env"].get("vectorization_mode"))
    resolved = baseline_schema().validate(config)
    env = resolved["env"]
    if env["vectorization_mode"] is None:  # the default is left out: configs of earlier runs resolve as they did
        del env["vectorization_mode"]
    env_mask = env.pop("mask_velocity")
    if env_mask is not None:  # accept evolve's spelling env.mask_velocity too
        if "mask_velocity" in config and config["mask_velocity"] != env_mask:
            raise ConfigError("env.mask_velocity", "disagrees with the top-level mask_velocity; set only one")
        resolved["mask_velocity"] = env_mask
    if resolved["seed"] is None:
        resolved["seed"] = draw_seed()
    _check_algorithm_kwargs(resolved)
    _check_reservoir(resolved)
    return resolved


def _torch_env_ids() -> list[str]:
    from ..envs import TORCH_ENVS

    ids = set(TORCH_ENVS)
    for env_id, spec in gym.registry.items():
        if env_id.startswith("MetaRL/") and spec.vector_entry_point is not None:
            ids.add(env_id)
    return sorted(ids)


def _check_algorithm_kwargs(config: dict[str, Any]) -> None:
    kwargs = config["algorithm_kwargs"]
    if kwargs is None:
        kwargs = config["algorithm_kwargs"] = {}
    if not isinstance(kwargs, dict):
        raise ConfigError("algorithm_kwargs", f"must be a mapping of SB3 constructor arguments, got {kwargs!r}")
    cls = ALGORITHMS[config["algorithm"]]
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "policy", "env", "seed", "device", "_init_setup_model"}
    for key in kwargs:
        if key not in allowed:
            raise ConfigError(f"algorithm_kwargs.{key}", f"is not an argument of SB3 {cls.__name__}; allowed: {sorted(allowed)}")
    for key in ("learning_rate", "clip_range"):
        value = kwargs.get(key)
        if isinstance(value, str):
            parse_schedule(value, f"algorithm_kwargs.{key}")
    for key, value in kwargs.items():
        if key in HYPERPARAMETER_RANGES and not (key in ("learning_rate", "clip_range") and isinstance(value, str)):
            _check_range(f"algorithm_kwargs.{key}", value, *HYPERPARAMETER_RANGES[key])
    if config["algorithm"] in ("ppo", "a2c") and "ent_coef" in kwargs:
        _check_range("algorithm_kwargs.ent_coef", kwargs["ent_coef"], "float", 0, None, False)
    if config["algorithm"] in ("ppo", "a2c") and kwargs.get("normalize_advantage", True):
        n_steps = kwargs.get("n_steps", inspect.signature(cls.__init__).parameters["n_steps"].default)
        if n_steps * config["num_envs"] < 2:
            raise ConfigError("algorithm_kwargs.n_steps", f"n_steps x num_envs = {n_steps} x {config['num_envs']} must be > 1 "
                              "(advantages are normalised over a rollout); raise n_steps or num_envs")
        if config["algorithm"] == "ppo" and kwargs.get("batch_size", 64) < 2:
            raise ConfigError("algorithm_kwargs.batch_size", f"must be > 1 (advantages are normalised over a minibatch), "
                              f"got {kwargs['batch_size']!r}")
    policy_kwargs = kwargs.get("policy_kwargs") or {}
    if not isinstance(policy_kwargs, dict):
        raise ConfigError("algorithm_kwargs.policy_kwargs", f"must be a mapping, got {policy_kwargs!r}")
    policy_cls = cls.policy_aliases["MlpPolicy"]
    accepted = sorted(set(inspect.signature(policy_cls.__init__).parameters) - {"self", "observation_space", "action_space", "lr_schedule"})
    for key, value in policy_kwargs.items():
        path = f"algorithm_kwargs.policy_kwargs.{key}"
        if key not in accepted:
            raise ConfigError(path, f"is not an argument of SB3 {policy_cls.__name__} (the {cls.__name__} MlpPolicy); "
                              f"accepted: {accepted}{_suggest_key(key, accepted)}")
        if key.endswith("_class") and value is not None:
            raise ConfigError(path, "takes a Python class, which a YAML config cannot name; leave it out")
    act = policy_kwargs.get("activation_fn")
    if act is not None and not (isinstance(act, str) and act.lower() in ACTIVATIONS):
        raise ConfigError("algorithm_kwargs.policy_kwargs.activation_fn", f"must be one of {sorted(ACTIVATIONS)}, got {act!r}")
    if "net_arch" in policy_kwargs:
        _check_net_arch(policy_kwargs["net_arch"], config["algorithm"])


def _suggest_key(key: str, accepted: list[str]) -> str:
    import difflib

    near = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


HYPERPARAMETER_RANGES: dict[str, tuple[str, float | None, float | None, bool]] = {
    # key: (kind, min, max, min exclusive); kind "int" or "float" (ints accepted), None: no bound
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
"""Ranges of the SB3 hyper-parameters a config may set (SB3 itself checks few of them: ``gamma: 2`` trained
silently, ``n_steps: 0`` and ``batch_size: 1`` died in an assertion)."""


def _check_range(path: str, value: Any, kind: str, low: float | None, high: float | None, low_exclusive: bool) -> None:
    if kind.endswith("?") and value is None:
        return
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    ok_type = is_int if kind == "int" else (is_int or (isinstance(value, (float, np.floating)) and math.isfinite(value)))
    below = low is not None and ok_type and (value <= low if low_exclusive else value < low)
    above = high is not None and ok_type and value > high
    if not ok_type or below or above:
        what = "an integer" if kind == "int" else "a finite number"
        if low is not None:
            what += f" {'>' if low_exclusive else '>='} {low}"
        if high is not None:
            what += f" and <= {high}"
        if path.endswith("gradient_steps"):
            what += " (-1: as many as env steps)"
        raise ConfigError(path, f"must be {what}, got {value!r}")


def _check_net_arch(net_arch: Any, algorithm: str) -> None:
    """``net_arch``: a list of layer widths (>= 1), or a dict of them per network (pi / vf, pi / qf)."""
    nets = ("pi", "vf") if algorithm in ("ppo", "a2c") else ("pi", "qf")
    path = "algorithm_kwargs.policy_kwargs.net_arch"

    def check_list(value: Any, where: str) -> None:
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
            raise ConfigError(where, f"must be a list of layer widths, each an integer >= 1 (e.g. [64, 64]), got {value!r}")

    if isinstance(net_arch, dict):
        for key, value in net_arch.items():
            if key not in nets:
                raise ConfigError(f"{path}.{key}", f"unknown network; {algorithm} takes {list(nets)}")
            check_list(value, f"{path}.{key}")
    else:
        check_list(net_arch, path)


def _check_reservoir(config: dict[str, Any]) -> None:
    from ..envs.echo_state import RESERVOIR_KEYS

    reservoir = config["reservoir"]
    if reservoir is None:
        return
    if not isinstance(reservoir, dict):
        raise ConfigError("reservoir", f"must be null or a mapping of ReservoirEncoder arguments, got {reservoir!r}")
    shared = {"use_action", "use_reward", "skip_connection", "seed"}
    if "reservoirs" in reservoir:
        allowed = shared | {"reservoirs"}
        if not isinstance(reservoir["reservoirs"], list) or not reservoir["reservoirs"]:
            raise ConfigError("reservoir.reservoirs", "must be a non-empty list of reservoir argument mappings")
        for k, item in enumerate(reservoir["reservoirs"]):
            if not isinstance(item, dict):
                raise ConfigError(f"reservoir.reservoirs.{k}", f"must be a mapping, got {item!r}")
            for key in item:
                if key not in RESERVOIR_KEYS:
                    raise ConfigError(f"reservoir.reservoirs.{k}.{key}", f"unknown key; allowed: {list(RESERVOIR_KEYS)}")
    else:
        allowed = shared | set(RESERVOIR_KEYS)
    for key in reservoir:
        if key not in allowed:
            raise ConfigError(f"reservoir.{key}", f"unknown key; allowed: {sorted(allowed)}")


# ---------------------------------------------------------------------------------------------- building
def parse_schedule(value: str, key: str) -> LinearSchedule:
    """rl-zoo's ``lin_<start>`` as SB3's own ``LinearSchedule`` from ``start`` at the beginning of training to 0
    (the one schedule parser of the baseline and ER-MRL configs); ConfigError naming ``key`` otherwise."""
    if not value.startswith("lin_"):
        raise ConfigError(key, f"a string value must be a linear schedule 'lin_<start>' such as 'lin_0.001', got {value!r}")
    try:
        start = float(value[4:])
    except ValueError:
        raise ConfigError(key, f"'lin_<start>' needs a number after 'lin_', got {value!r}") from None
    if not (math.isfinite(start) and start > 0):
        raise ConfigError(key, f"'lin_<start>' needs a finite start > 0, got {value!r}")
    return LinearSchedule(start, 0.0, 1.0)


def sb3_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """``algorithm_kwargs`` turned into SB3 arguments (schedules and activation classes built)."""
    kwargs = copy.deepcopy(config["algorithm_kwargs"])
    for key in ("learning_rate", "clip_range"):
        if isinstance(kwargs.get(key), str):
            kwargs[key] = parse_schedule(kwargs[key], f"algorithm_kwargs.{key}")
    policy_kwargs = kwargs.get("policy_kwargs")
    if policy_kwargs and isinstance(policy_kwargs.get("activation_fn"), str):
        policy_kwargs["activation_fn"] = ACTIVATIONS[policy_kwargs["activation_fn"].lower()]
    return kwargs


def _build_env(config: dict[str, Any], num_envs: int):
    """The config's env batch of ``num_envs`` rows through :func:`metarl_gym.envs.make`."""
    reservoir = config["reservoir"]
    if reservoir is not None:
        reservoir = {"seed": config["seed"], **reservoir}  # the reservoir seed defaults to the run seed (as ER-MRL)
    return make(config["env"]["id"], num_envs, device=config["device"],
                vectorization_mode=config["env"].get("vectorization_mode") or "vector_entry_point",
                mask_velocity=config["mask_velocity"], reservoir=reservoir, **config["env"]["kwargs"])


def check_memory(config: dict[str, Any]) -> None:
    """Refuse (one line, with the estimate) a resolved config whose env rows and SB3 buffer cannot fit in memory;
    a one-row env gives the spaces, so nothing of the run's size is allocated."""
    probe = _build_env(config, 1)
    try:
        check_baseline_memory(config, ALGORITHMS[config["algorithm"]], probe.single_observation_space, probe.single_action_space)
    finally:
        probe.close()


def make_model(config: dict[str, Any], *, verbose: int = 0):
    """The SB3 model of a resolved config, on its env (``VecMonitor(SB3VecEnv(env))``)."""
    name = config["algorithm"]
    env = _build_env(config, config["num_envs"])
    if name in CONTINUOUS_ONLY and not isinstance(env.single_action_space, gym.spaces.Box):
        raise ConfigError("algorithm", f"{name} needs a continuous (Box) action space; {config['env']['id']} has {env.single_action_space}; use ppo or a2c")
    venv = VecMonitor(SB3VecEnv(env))
    return ALGORITHMS[name]("MlpPolicy", venv, seed=config["seed"], device=config["device"], verbose=verbose, **sb3_kwargs(config))


# ---------------------------------------------------------------------------------------------- metrics
class EpisodeMetricsCallback(BaseCallback):
    """Writes ``metrics.csv`` rows (``METRICS_COLUMNS``) during SB3 training and keeps every episode return.

    A row summarises the episode returns finished since the previous row; one is written (and fsync'ed) when
    at least ``interval_steps`` env steps have passed and at least one episode finished, and at the end.

    Args:
        path: a :class:`~metarl_gym.run_dir.RunDir` (rows appended through it), a CSV file (created with a
            header), or None (only keep the returns in memory).
        interval_steps: minimum env steps between rows.
        progress: show a tqdm bar over ``total_timesteps``.
    """

    def __init__(self, path: RunDir | str | Path | None, interval_steps: int, progress: bool = False):
        super().__init__()
        self.run_dir = path if isinstance(path, RunDir) else None
        self.path = None if path is None or self.run_dir is not None else Path(path)
        self.interval_steps = int(interval_steps)
        self.progress = progress
        self.episode_returns: list[float] = []
        """Every finished episode's return, in order."""
        self.rows: list[dict[str, float]] = []
        self._pending: list[float] = []
        self._last_row_steps = 0
        self._file = None
        self._writer = None
        self._t0 = 0.0
        self._bar = None

    def _on_training_start(self) -> None:
        self._t0 = time.perf_counter()
        self._last_row_steps = self.num_timesteps
        if self.path is not None and self._file is None:
            self._file = self.path.open("w", newline="")
            self._writer = csv.writer(self._file)
            self._writer.writerow(METRICS_COLUMNS)
            self._file.flush()
        if self.progress:
            from tqdm.auto import tqdm

            total = self.locals.get("total_timesteps") or getattr(self.model, "_total_timesteps", None)
            self._bar = tqdm(total=total, initial=self.num_timesteps, desc="baseline", unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            episode = info.get("episode")
            if episode is not None:
                self._pending.append(float(episode["r"]))
                self.episode_returns.append(float(episode["r"]))
        if self._pending and self.num_timesteps - self._last_row_steps >= self.interval_steps:
            self._write_row()
        if self._bar is not None:
            self._bar.update(self.num_timesteps - self._bar.n)
        return True

    def _on_training_end(self) -> None:
        if self._pending:
            self._write_row()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _write_row(self) -> None:
        returns = np.asarray(self._pending, dtype=np.float64)
        row = {
            "env_steps": int(self.num_timesteps),
            "wall_s": round(time.perf_counter() - self._t0, 3),
            "mean": float(returns.mean()),
            "median": float(np.median(returns)),
            "best": float(returns.max()),
            "worst": float(returns.min()),
            "episodes": len(returns),
        }
        self.rows.append(row)
        if self.run_dir is not None:
            self.run_dir.append_metrics(row, columns=list(METRICS_COLUMNS))
        elif self._writer is not None:
            self._writer.writerow([row[c] for c in METRICS_COLUMNS])
            self._file.flush()
        if self._bar is not None:
            self._bar.set_postfix(mean=f"{row['mean']:.4g}")
        self._pending = []
        self._last_row_steps = self.num_timesteps


def default_interval(config: dict[str, Any]) -> int:
    """One on-policy rollout (``n_steps · num_envs``), or 1000 env steps for off-policy algorithms."""
    if config["log_interval_steps"] is not None:
        return int(config["log_interval_steps"])
    if config["algorithm"] in ("ppo", "a2c"):
        default_n_steps = {"ppo": 2048, "a2c": 5}[config["algorithm"]]
        return int(config["algorithm_kwargs"].get("n_steps", default_n_steps)) * config["num_envs"]
    return 1000


def train(config: dict[str, Any], metrics_path: RunDir | str | Path | None = None, *, verbose: int = 0, progress: bool = False):
    """Train the SB3 model of a resolved config.

    Args:
        config: a config resolved by :func:`resolve_baseline_config`.
        metrics_path: a RunDir or a path to write metrics.csv to (None: nowhere).
        verbose: SB3 verbosity.
        progress: show a progress bar.

    Returns:
        ``(model, callback)``; ``callback.episode_returns`` lists every finished episode's return.
    """
    if config["threads"] is not None:
        torch.set_num_threads(config["threads"])
    model = make_model(config, verbose=verbose)
    callback = EpisodeMetricsCallback(metrics_path, default_interval(config), progress=progress)
    model.learn(total_timesteps=config["total_timesteps"], callback=callback)
    return model, callback


# ---------------------------------------------------------------------------------------------- the command
def run_baseline(
    config: dict[str, Any], run_dir: str | Path, *, overwrite: bool = False, progress: bool = False, resume: bool = False
) -> dict[str, Any]:
    """``metarl-gym baseline``: train an SB3 agent and write the run directory (a RunDir of kind "baseline").

    Args:
        config: the loaded YAML with overrides applied (see the module docstring); with ``resume``, None
            (the stored config is used) or the same config.
        run_dir: directory for config.yaml, metrics.csv, model.zip and fitness.png: new or empty (or, with
            ``overwrite``, one to replace).
        overwrite: replace a directory holding another run or files metarl-gym did not write.
        progress: show a progress bar over the env steps.
        resume: finish a baseline run that was killed: SB3's mid-training state is not checkpointed, so the
            training reruns from step 0 under the stored config (deterministic on CPU: the same metrics, wall_s
            aside, as an uninterrupted run).

    Returns:
        A summary: ``run_dir``, ``algorithm``, ``env_id``, ``env_steps``, ``wall_s``, ``episodes``,
        ``final_mean`` (mean return of the last 10 episodes, NaN if none finished) and ``last_row``.

    Raises:
        UserError: an invalid config (the message names the key path and the allowed values); a directory
            holding another run (an evolve run, say) or foreign files; another process on the directory.
    """
    if resume:
        rd = RunDir(run_dir, "baseline").open_existing()
        with rd.lock():
            stored = resolve_baseline_config(rd.read_config())
            if rd.recorded_config is not None and stored != rd.recorded_config:
                from ..config import check_resume_config

                check_resume_config(rd.recorded_config, stored, rd.path("config.yaml"))
            if config is not None and resolve_baseline_config(config) != stored:
                raise UserError(f"{rd.root} holds a baseline run with another config; resume it without a config, or pick another --run-dir")
            check_memory(stored)
            rd.truncate_metrics(0)
            return _train_into(stored, rd, progress)
    config = resolve_baseline_config(config)
    check_memory(config)  # before the directory exists
    rd = RunDir(run_dir, "baseline", overwrite=overwrite).create(None)
    with rd.lock():
        rd.write_config(config)
        return _train_into(config, rd, progress)


def _train_into(config: dict[str, Any], rd: RunDir, progress: bool) -> dict[str, Any]:
    start = time.perf_counter()
    model, callback = train(config, rd, progress=progress)
    wall_s = time.perf_counter() - start
    with rd.atomic_path("model.zip") as tmp:
        model.save(tmp)
        if not tmp.exists() and tmp.with_name(tmp.name + ".zip").exists():  # SB3 appends .zip to other names
            tmp.with_name(tmp.name + ".zip").rename(tmp)
    model.get_env().close()
    returns = callback.episode_returns
    if callback.rows:
        from ..plots import plot_fitness

        try:
            with rd.atomic_path("fitness.png") as tmp:
                plot_fitness([(rd.root.name, rd.read_metrics())], tmp, x="env_steps", fmt="png")
        except (OSError, ValueError):
            pass  # a plot never fails a finished run
    return {
        "run_dir": str(rd.root),
        "algorithm": config["algorithm"],
        "env_id": config["env"]["id"],
        "env_steps": int(model.num_timesteps),
        "wall_s": round(wall_s, 3),
        "episodes": len(returns),
        "final_mean": float(np.mean(returns[-10:])) if returns else math.nan,
        "last_row": callback.rows[-1] if callback.rows else None,
    }
