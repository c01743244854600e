"""``metarl-gym baseline``: train a Stable-Baselines3 agent (PPO, A2C, SAC, TD3) on a MetaRL env.

The env is the very same registered torch batch the evolution runs use (``gym.make_vec(id, num_envs,
vectorization_mode="vector_entry_point")``), optionally velocity-masked and reservoir-encoded (ER-MRL, Léger et
al. 2024, arXiv 2312.06695), seen by SB3 through :class:`~metarl_gym.baselines.sb3.SB3VecEnv`; so RL and
evolution compare on identical dynamics, seeds and step budgets.

The config (every key optional; the shared ``env`` section holds ``mask_velocity`` and ``reservoir``) is
described and checked in :mod:`metarl_gym.config.baseline`.

The run directory (shared with ``metarl-gym evolve``)::

    config.yaml    the resolved config
    metrics.csv    env_steps,wall_s,mean,median,best,worst,episodes — statistics of the episode returns finished
                   since the previous row (rows written and flushed during training)
    model.zip      the trained SB3 model (``ALGORITHMS[algorithm].load``)
"""

from __future__ import annotations

import copy
import csv
import math
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecMonitor

from ..config.base import ConfigError
from ..config.baseline import ACTIVATIONS, parse_schedule, resolve_baseline_config
from ..errors import UserError
from ..evolution.evaluate import build_env
from ..memory import check_baseline_memory
from ..run_dir import RunDir
from .sb3 import SB3VecEnv

ALGORITHMS = {"ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3}
"""Config name -> SB3 algorithm class."""

CONTINUOUS_ONLY = {"sac", "td3"}

METRICS_COLUMNS = ("env_steps", "wall_s", "mean", "median", "best", "worst", "episodes")


# ---------------------------------------------------------------------------------------------- building
def sb3_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """``algorithm_kwargs`` turned into SB3 arguments (schedules and activation classes built)."""
    kwargs = copy.deepcopy(config["algorithm_kwargs"])
    for key in ("learning_rate", "clip_range"):
        if isinstance(kwargs.get(key), str):
            kwargs[key] = parse_schedule(kwargs[key])
    policy_kwargs = kwargs.get("policy_kwargs")
    if policy_kwargs and isinstance(policy_kwargs.get("activation_fn"), str):
        policy_kwargs["activation_fn"] = getattr(torch.nn, ACTIVATIONS[policy_kwargs["activation_fn"].lower()])
    return kwargs


def check_memory(config: dict[str, Any]) -> None:
    """Refuse (one line, with the estimate) a resolved config whose env rows and SB3 buffer cannot fit in memory;
    a one-row env gives the spaces, so nothing of the run's size is allocated."""
    probe = build_env(config, 1)
    try:
        check_baseline_memory(config, ALGORITHMS[config["algorithm"]], probe.single_observation_space, probe.single_action_space)
    finally:
        probe.close()


def make_model(config: dict[str, Any], *, verbose: int = 0):
    """The SB3 model of a resolved config, on its env (``VecMonitor(SB3VecEnv(env))``)."""
    name = config["algorithm"]
    env = build_env(config, config["num_envs"])
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

                check_resume_config(rd.recorded_config, stored, rd.path("config.yaml"), may_change=())
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
