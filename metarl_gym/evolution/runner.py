"""Evolution runs: build env / policy / strategy from a config, loop generations, log, checkpoint, resume.

A run directory holds::

    config.yaml      the resolved config (every default filled in, the seed fixed)
    metrics.csv      one row per generation: generation,best,mean,median,worst,best_ever,env_steps,wall_s,...
    checkpoint.pt    strategy state + counters, written atomically every ``checkpoint_every`` generations and at the end
    best.pt          the solution: {"params": [D], "solution", "best_individual", "fitness", "generation", "config"}
                     (params = the distribution mean for ES / CMA-ES, the best individual for a GA)

``resume(run_dir)`` continues from checkpoint.pt and reproduces, on CPU, exactly the metrics rows (wall_s
aside) and best.pt of an uninterrupted run: every generation's evaluation seed is a function of the run seed
and the generation number, and the strategy's generator state is part of the checkpoint.
"""

from __future__ import annotations

import csv
import os
import secrets
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..agents import policy_class
from ..config import ConfigError, dump_yaml, load_yaml, resolve_evolve_config
from ..envs.base import TorchVectorEnv
from . import STRATEGIES
from .fast_rollout import fast_rollout
from .rollout import EarlyStop, make_env, rollout

METRIC_COLUMNS = ["generation", "best", "mean", "median", "worst", "best_ever", "env_steps", "wall_s"]


def build_env(config: dict[str, Any], num_envs: int, *, render_mode: str | None = None):
    """The torch vector env of ``config["env"]`` with ``num_envs`` rows (velocity-masked if asked)."""
    env_cfg = config["env"]
    kwargs = dict(env_cfg.get("kwargs") or {})
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = make_env(env_cfg["id"], num_envs, device=config["device"], vectorization_mode=env_cfg.get("vectorization_mode"), **kwargs)
    if env_cfg.get("mask_velocity"):
        from ..envs.wrappers import MaskVelocity

        env = MaskVelocity(env)
    return env


def build_policy(config: dict[str, Any], env):
    """The policy of ``config["policy"]`` for the spaces of ``env``."""
    cls = policy_class(config["policy"]["name"])
    return cls(env.single_observation_space, env.single_action_space, **config["policy"]["kwargs"])


def build_strategy(config: dict[str, Any], num_params: int):
    """The strategy of ``config["strategy"]`` over genomes of length ``num_params``."""
    s = config["strategy"]
    return STRATEGIES[s["name"]](num_params=num_params, pop_size=s["pop_size"], seed=config["seed"], device=config["device"], **s["kwargs"])


def evaluation_seed(run_seed: int, generation: int) -> int:
    """The env / policy seed of one generation's evaluation (a function of the run seed and the generation)."""
    return (run_seed * 1_000_003 + generation * 7_919) % (2**31 - 1)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file, fsync, then rename: a kill never leaves a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class EvolutionRun:
    """One evolution run in ``run_dir``. Use :func:`evolve` or :func:`resume` rather than this class directly."""

    def __init__(self, config: dict[str, Any], run_dir: str | Path):
        self.config = config
        self.run_dir = Path(run_dir)
        probe = build_env(config, 1)
        self.policy = build_policy(config, probe)
        probe.close()
        self.plastic = bool(getattr(self.policy, "plastic", False))
        pop = config["strategy"]["pop_size"]
        # Static policies play their episodes side by side; plastic ones play them in sequence (one lifetime).
        self.copies = 1 if self.plastic else config["episodes"]
        self.env = build_env(config, pop * self.copies)
        self.strategy = build_strategy(config, self.policy.num_params)
        early_stop = config["rollout"]["early_stop"]
        self.early_stop = EarlyStop(**early_stop) if early_stop else None
        self.fast = config["rollout"]["fast"]
        if self.fast is not None and not (isinstance(self.env, TorchVectorEnv) and self.env.max_episode_steps):
            raise ConfigError(
                "rollout.fast",
                f"needs an unwrapped torch env with a time limit (a MetaRL/* id, no mask_velocity), got "
                f"{type(self.env).__name__}; set rollout.fast: null",
            )
        self.generation = 0
        self.env_steps = 0
        self.wall_s = 0.0
        self.best_generation = -1

    # ---------------------------------------------------------------- files
    @property
    def metrics_path(self) -> Path:
        return self.run_dir / "metrics.csv"

    def save_checkpoint(self) -> None:
        atomic_torch_save(
            {
                "generation": self.generation,
                "env_steps": self.env_steps,
                "wall_s": self.wall_s,
                "best_generation": self.best_generation,
                "strategy": self.strategy.state_dict(),
            },
            self.run_dir / "checkpoint.pt",
        )

    def load_checkpoint(self) -> None:
        state = torch.load(self.run_dir / "checkpoint.pt", map_location=self.config["device"], weights_only=False)
        self.generation = state["generation"]
        self.env_steps = state["env_steps"]
        self.wall_s = state["wall_s"]
        self.best_generation = state["best_generation"]
        self.strategy.load_state_dict(state["strategy"])
        self._truncate_metrics(self.generation)

    def _truncate_metrics(self, generations: int) -> None:
        """Drop metrics rows of generations after the checkpoint (they will be recomputed identically)."""
        if not self.metrics_path.exists():
            return
        with self.metrics_path.open() as f:
            rows = list(csv.reader(f))
        kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) < generations]
        tmp = self.metrics_path.with_name("metrics.csv.tmp")
        with tmp.open("w", newline="") as f:
            csv.writer(f).writerows(kept)
        os.replace(tmp, self.metrics_path)

    def _append_metrics(self, row: dict[str, Any]) -> None:
        new_file = not self.metrics_path.exists()
        if new_file:
            extras = sorted(k for k in row if k not in METRIC_COLUMNS)
            self.columns = METRIC_COLUMNS + extras
        elif not hasattr(self, "columns"):
            with self.metrics_path.open() as f:
                self.columns = next(csv.reader(f))
        with self.metrics_path.open("a", newline="") as f:
            writer = csv.writer(f)
            if new_file:
                writer.writerow(self.columns)
            writer.writerow([_format(row.get(c, "")) for c in self.columns])
            f.flush()
            os.fsync(f.fileno())

    def save_best(self) -> None:
        """best.pt: the run's solution. For ES / CMA-ES it is the distribution mean (the population's best
        individual was scored on a few noisy episodes, and tends to be a lucky one); for a GA, the best individual.
        """
        center = self.strategy.center
        atomic_torch_save(
            {
                "params": (center if center is not None else self.strategy.best_params).cpu(),
                "solution": "center" if center is not None else "best_individual",
                "best_individual": self.strategy.best_params.cpu(),
                "fitness": self.strategy.best_fitness,
                "generation": self.best_generation,
                "generations": self.generation,
                "config": self.config,
            },
            self.run_dir / "best.pt",
        )

    # ---------------------------------------------------------------- the loop
    def run(self, progress: bool = True) -> dict[str, Any]:
        generations = self.config["generations"]
        bar = tqdm(total=generations, initial=self.generation, desc="evolve", unit="gen", disable=not progress, dynamic_ncols=True)
        metrics: dict[str, Any] = {}
        while self.generation < generations:
            start = time.perf_counter()
            params = self.strategy.ask()
            seed = evaluation_seed(self.config["seed"], self.generation)
            if self.fast is not None:
                fitness, stats = fast_rollout(self.env, self.policy, params, seed=seed, return_stats=True, **self.fast)
            else:
                fitness, stats = rollout(
                    self.env,
                    self.policy,
                    params,
                    num_episodes=self.config["episodes"],
                    seed=seed,
                    early_stop=self.early_stop,
                    return_stats=True,
                )
            best_before = self.strategy.best_fitness
            metrics = self.strategy.tell(params, fitness)
            self.env_steps += stats["env_steps"]
            self.wall_s += time.perf_counter() - start
            improved = metrics["best"] >= best_before  # NaN (nothing finite) compares False
            if improved:
                self.best_generation = self.generation
            metrics = {**metrics, "generation": self.generation, "env_steps": self.env_steps, "wall_s": round(self.wall_s, 3)}
            self._append_metrics(metrics)
            self.generation += 1
            if improved or self.strategy.center is not None:
                self.save_best()
            if self.generation % self.config["checkpoint_every"] == 0 or self.generation == generations:
                self.save_checkpoint()
            bar.update(1)
            bar.set_postfix(best=f"{metrics['best']:.4g}", mean=f"{metrics['mean']:.4g}")
        bar.close()
        return {
            "run_dir": str(self.run_dir),
            "generations": self.generation,
            "best_fitness": self.strategy.best_fitness,
            "best_generation": self.best_generation,
            "env_steps": self.env_steps,
            "wall_s": self.wall_s,
            "last": metrics,
        }


def _format(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    return value


def evolve(config: dict[str, Any], run_dir: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Start a new run in ``run_dir`` (created; must not already hold a run) and return a summary dict.

    Args:
        config: a config dict (defaults are filled in and checked, see :mod:`metarl_gym.config`).
        run_dir: the run directory.
        progress: show the tqdm progress bar.
    """
    config = resolve_evolve_config(config)
    if config["seed"] is None:
        config["seed"] = secrets.randbelow(2**31 - 1)
    run_dir = Path(run_dir)
    if (run_dir / "checkpoint.pt").exists() or (run_dir / "metrics.csv").exists():
        raise FileExistsError(f"{run_dir} already holds a run; continue it with `metarl-gym evolve --resume {run_dir}` or pick a new --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_yaml(config, run_dir / "config.yaml")
    return EvolutionRun(config, run_dir).run(progress=progress)


def resume(run_dir: str | Path, *, progress: bool = True, generations: int | None = None) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its last checkpoint (optionally to a larger ``generations``)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise FileNotFoundError(f"{run_dir} holds no run (no config.yaml); start one with `metarl-gym evolve CONFIG --run-dir {run_dir}`")
    config = resolve_evolve_config(load_yaml(run_dir / "config.yaml"))
    if generations is not None:
        config["generations"] = generations
        dump_yaml(config, run_dir / "config.yaml")
    run = EvolutionRun(config, run_dir)
    if (run_dir / "checkpoint.pt").exists():
        run.load_checkpoint()
    else:
        run._truncate_metrics(0)
    return run.run(progress=progress)
