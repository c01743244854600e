"""ER-MRL trials: one PPO run as a plain function of a plain dict, and the local ways to map it over many.

A *trial spec* is a dict of YAML-able values (no objects), so it can go to a worker process or a Ray actor::

    {"kind": "score", "baseline": <a run_baseline config>, "last_episodes": 10}   # one fitness evaluation
    {"kind": "test",  "baseline": <a run_baseline config>}                        # one test-protocol run

:func:`run_trial` runs it and returns a dict of plain values (the trained model of a test run as zip bytes),
so a worker never writes into the run directory: the study process does, atomically.

A *map function* ``map_fn(fn, specs) -> results`` applies ``fn`` to every spec and returns the results in
spec order. :class:`LocalMap` is the default (this process, or a pool of spawned worker processes);
a distributed backend passes its own.
"""

from __future__ import annotations

import copy
import io
import math
import multiprocessing
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import torch

MapFn = Callable[[Callable[[dict], dict], Sequence[dict]], list]
"""``map_fn(fn, specs) -> [fn(spec) for spec in specs]``, possibly in parallel, results in spec order."""


def _is_torch_id(env_id: str) -> bool:
    """True for a torch-batched id (its own vector entry point); any other Gymnasium id (MuJoCo...) runs in
    Gymnasium's sync vector env behind ``NumpyToTorch``."""
    import gymnasium as gym

    from ...envs.make import torch_entry_point

    return torch_entry_point(gym.spec(env_id)) is not None


def ppo_config(config: dict[str, Any], env: dict[str, Any], seed: int, total_timesteps: int, reservoir: dict | None) -> dict[str, Any]:
    """A ``run_baseline`` config: PPO with the study's settings on ``env`` (the reservoir seed is the PPO seed,
    as in ER-MRL: hyper-parameters are evolved, the random matrices are drawn per seed). A Gymnasium id
    (MuJoCo...) runs in Gymnasium's sync vector env behind ``NumpyToTorch``; a MetaRL id in its torch batch."""
    return {
        "algorithm": "ppo",
        "env": {"id": env["id"], "kwargs": copy.deepcopy(env["kwargs"]), "mask_velocity": env["mask_velocity"],
                "reservoir": copy.deepcopy(reservoir)},
        "num_envs": config["ppo"]["num_envs"],
        "total_timesteps": total_timesteps,
        "seed": seed,
        "device": config["device"],
        "algorithm_kwargs": copy.deepcopy(config["ppo"]["algorithm_kwargs"]),
        "threads": config["threads"],
    }


def run_trial(trial_spec: dict[str, Any]) -> dict[str, Any]:
    """Run one trial spec (see the module docstring); a top-level function, so it pickles to any worker.

    Returns:
        ``"score"``: ``{"score": mean return of the last episodes (NaN if none finished), "env_steps",
        "episodes"}``. ``"test"``: ``{"env_steps", "episodes", "episode_returns", "rows": metrics rows,
        "final_mean": mean return of the last 10 episodes, "model_zip": bytes}``.
    """
    from ..run import resolve_baseline_config, train

    kind = trial_spec.get("kind")
    if kind not in ("score", "test"):
        raise ValueError(f"trial spec kind must be 'score' or 'test', got {kind!r}")
    model, callback = train(resolve_baseline_config(trial_spec["baseline"]))
    model.get_env().close()
    returns = [float(r) for r in callback.episode_returns]
    if kind == "score":
        last = returns[-int(trial_spec["last_episodes"]):]
        return {"score": float(np.mean(last)) if last else math.nan, "env_steps": int(model.num_timesteps), "episodes": len(returns)}
    buffer = io.BytesIO()
    model.save(buffer)
    return {
        "env_steps": int(model.num_timesteps),
        "episodes": len(returns),
        "episode_returns": returns,
        "rows": [dict(row) for row in callback.rows],
        "final_mean": float(np.mean(returns[-10:])) if returns else math.nan,
        "model_zip": buffer.getvalue(),
    }


def random_policy_score(env: dict[str, Any], episodes: int, seed: int, device=None) -> float:
    """Mean episode return of a uniformly random policy (one episode on each of ``episodes`` rows).

    Args:
        env: an env entry (``id``, ``kwargs``, ``mask_velocity``).
        episodes: number of episodes (batch rows).
        seed: seed of the env and of the actions.
        device: torch device.
    """
    from ...envs.make import make

    # a torch batch stops finished rows (autoreset disabled); Gymnasium's sync env restarts them, masked out below
    no_autoreset = {"autoreset_mode": "disabled"} if _is_torch_id(env["id"]) else {}
    vec = make(env["id"], episodes, device=device, mask_velocity=env["mask_velocity"], **{**env["kwargs"], **no_autoreset})
    vec.reset(seed=seed)
    vec.action_space.seed(seed)
    returns = np.zeros(episodes)
    alive = np.ones(episodes, dtype=bool)
    while alive.any():
        _, rewards, terminated, truncated, _ = vec.step(vec.action_space.sample())
        returns += np.where(alive, rewards.cpu().numpy(), 0.0)
        alive &= ~(terminated | truncated).cpu().numpy()
    vec.close()
    return float(returns.mean())


def init_worker() -> None:
    """Worker-process initialiser: one torch thread (a run's own ``threads`` setting still applies); Ctrl-C
    ignored, so that the study process finishes the generation's trials and checkpoints (the runner's first
    SIGINT stops after the generation)."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalMap:
    """The default map function: in this process (``workers=1``) or a pool of ``workers`` spawned processes.

    Args:
        workers: number of processes (1: no pool).

    Use as ``map_fn(run_trial, specs)``; :meth:`close` shuts the pool down (also as a context manager).
    """

    def __init__(self, workers: int = 1):
        self.workers = int(workers)
        self._pool: ProcessPoolExecutor | None = None

    def __call__(self, fn: Callable[[dict], dict], specs: Sequence[dict]) -> list:
        if self.workers <= 1 or len(specs) <= 1:
            return [fn(spec) for spec in specs]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker)
        return list(self._pool.map(fn, specs))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> LocalMap:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["LocalMap", "MapFn", "init_worker", "ppo_config", "random_policy_score", "run_trial"]
