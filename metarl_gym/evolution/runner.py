"""Evolution runs: build env / policy / strategy from a config, loop generations, log, checkpoint, resume.

A run directory (:class:`~metarl_gym.run_dir.RunDir`, kind ``"evolve"``) holds::

    run.json         the run kind, the files written, a copy of the config (so hand edits are detected)
    config.yaml      the resolved config (every default filled in, the seed fixed)
    metrics.csv      one row per generation: generation,best,mean,median,worst,best_ever,num_nonfinite,env_steps,
                     wall_s, then the strategy's scalars (sigma, lr, ...)
    checkpoint.pt    strategy state + counters (tensors and plain values only: loads with weights_only=True),
                     written atomically every ``checkpoint_every`` generations, at the end and on SIGINT / SIGTERM
    best.pt          the solution: {"params": [D], "solution", "best_individual", "fitness", "generation", "config"}
                     (params = the distribution mean for ES / CMA-ES, the best individual for a GA; never
                     non-finite)
    fitness.png      best / mean fitness per generation, drawn when the run ends
    tensorboard/     scalars per generation when ``logging.tensorboard: true``

``resume(run_dir)`` continues from checkpoint.pt and reproduces, on CPU, exactly the metrics rows (wall_s
aside) and best.pt of an uninterrupted run: every generation's evaluation seed is a function of the run seed
and the generation number, and the strategy's generator state is part of the checkpoint. The config may not
change between a stop and a resume, except ``generations`` (to extend a run).

The loop is the project's one generation loop. What scores a population is its *backend*: by default
:func:`metarl_gym.distributed.build_backend` (local or Ray rollouts of the config's env and policy); any object
with this interface works, e.g. the ER-MRL study's (:class:`metarl_gym.baselines.er_mrl.ReservoirFitness`, whose
fitness function trains PPO)::

    evaluate(params [pop, D], generation) -> (fitness [pop], stats)
        stats["env_steps"]: env steps taken; optional: "num_nonfinite", "episode_returns" [pop, episodes],
        "metrics": {column: number} (extra metrics.csv columns, e.g. ER-MRL's "trials")
    close()
    # optional hooks
    state_dict() -> dict           checkpoint.pt["backend"] (tensors, numbers, strings, containers)
    load_state_dict(state)         restores it on resume
    write_reports(run_dir)         files derived from that state (ER-MRL: history.json, best.json), written
                                   after a generation's metrics row and before its checkpoint, and again on resume

One generation writes, in this order: the metrics row, the backend's reports, best.pt, checkpoint.pt (the
commit point). A resume loads the checkpoint, cuts metrics.csv back to the generations it accounts for and
rewrites the reports, so a kill anywhere resumes to the uninterrupted run.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..config import ConfigError, check_resume_config, draw_seed, resolve_evolve_config
from ..distributed import build_backend
from ..errors import UserError
from ..memory import check_evolve_memory
from ..run_dir import RunDir
from . import STRATEGIES
from .evaluate import build_env, build_policy, per_morphology

METRIC_COLUMNS = ["generation", "best", "mean", "median", "worst", "best_ever", "num_nonfinite", "env_steps", "wall_s"]

__all__ = ["EvolutionRun", "RunInterrupted", "build_strategy", "evolve", "resume"]


class RunInterrupted(UserError):
    """SIGINT / SIGTERM stopped a run after a consistent checkpoint; the message says how to resume."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


def build_strategy(config: dict[str, Any], num_params: int):
    """The strategy of ``config["strategy"]`` over genomes of length ``num_params``."""
    s = config["strategy"]
    try:
        return STRATEGIES[s["name"]](num_params=num_params, pop_size=s["pop_size"], seed=config["seed"], device=config["device"], **s["kwargs"])
    except (TypeError, ValueError) as err:
        if isinstance(err, UserError):
            raise
        raise ConfigError("strategy.kwargs", str(err)) from None


class _StopSignals:
    """While active, SIGINT / SIGTERM set a flag (the loop stops after the generation's writes); a second
    signal raises KeyboardInterrupt at once (the files stay consistent: every write is atomic)."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


class EvolutionRun:
    """One evolution run in a :class:`RunDir`. Use :func:`evolve` or :func:`resume` (or, for ER-MRL,
    :func:`metarl_gym.baselines.er_mrl.run_er_mrl`) rather than this class.

    Args:
        config: the resolved config (saved in best.pt; its ``generations``, ``checkpoint_every``,
            ``logging.tensorboard`` and ``device`` are read unless given below).
        run_dir: the run directory (its lock held by the caller); may be set later.
        strategy: the strategy (default: built from ``config["strategy"]`` for the config's policy).
        backend: what scores a population (see the module docstring; default: ``build_backend(config)``,
            started at the first evaluation). The run closes it at the end.
        name: the command, for the progress bar and messages (``metarl-gym <name> --resume DIR``).
        generations: generations to run (default ``config["generations"]``).
        checkpoint_every: checkpoint period in generations (default ``config["checkpoint_every"]``).
        best_pt: write best.pt (the strategy's solution); off where the backend reports its own best.
    """

    def __init__(
        self,
        config: dict[str, Any],
        run_dir: RunDir | None = None,
        *,
        strategy=None,
        backend=None,
        name: str = "evolve",
        generations: int | None = None,
        checkpoint_every: int | None = None,
        best_pt: bool = True,
    ):
        self.config = config
        self.run_dir = run_dir
        self.policy = None
        if strategy is None:
            probe = build_env(config, 1)
            self.policy = build_policy(config, probe)  # (the backend builds its own; this one sizes the genome)
            probe.close()
            check_evolve_memory(config, self.policy)  # refused up front, before the population is allocated
            strategy = build_strategy(config, self.policy.num_params)
        self.strategy = strategy
        self.backend = backend  # None: local or Ray (metarl_gym.distributed), started at the first evaluation
        self.name = name
        self.generations = int(config["generations"] if generations is None else generations)
        self.checkpoint_every = int(config["checkpoint_every"] if checkpoint_every is None else checkpoint_every)
        self.tensorboard = bool(config.get("logging", {}).get("tensorboard", False))
        self.best_pt = best_pt
        self.generation = 0
        self.env_steps = 0
        self.wall_s = 0.0
        self.best_generation = -1
        self._tensorboard = None
        self._warned_nonfinite = False

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, params: torch.Tensor, generation: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """Fitness ``[pop]`` of ``params [pop, D]`` at ``generation`` and the evaluation's stats, through the
        backend (default: ``distributed.backend``, :func:`metarl_gym.distributed.build_backend`; Ray is imported
        only for ``ray``)."""
        if self.backend is None:
            self.backend = build_backend(self.config)
        return self.backend.evaluate(params, generation)

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None

    # ---------------------------------------------------------------- files
    def save_checkpoint(self) -> None:
        state = {
            "generation": self.generation,
            "env_steps": self.env_steps,
            "wall_s": self.wall_s,
            "best_generation": self.best_generation,
            "strategy": self.strategy.state_dict(),
        }
        if hasattr(self.backend, "state_dict"):
            state["backend"] = self.backend.state_dict()
        self.run_dir.save_checkpoint(state)

    def load_checkpoint(self) -> None:
        state = self.run_dir.load_checkpoint(map_location=self.config["device"])
        try:
            self.generation = int(state["generation"])
            self.env_steps = int(state["env_steps"])
            self.wall_s = float(state["wall_s"])
            self.best_generation = int(state["best_generation"])
            self.strategy.load_state_dict(state["strategy"])
            if hasattr(self.backend, "load_state_dict"):
                self.backend.load_state_dict(state["backend"])
        except UserError:
            raise  # the strategy's own one-line refusal (e.g. a non-finite stored state)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise UserError(f"{self.run_dir.path('checkpoint.pt')} does not fit this run's config ({err}); restore it or start a new run") from None

    def restore(self) -> None:
        """Continue from checkpoint.pt when there is one (counters, strategy, backend state); metrics.csv is cut
        back to the generations it accounts for and the backend's reports are rewritten from it. Without a
        checkpoint the run starts at generation 0 (rows of a generation killed before its checkpoint dropped).
        """
        if self.run_dir.exists("checkpoint.pt"):
            self.load_checkpoint()
        self.run_dir.truncate_metrics(self.generation)
        self._write_reports()

    def _write_reports(self) -> None:
        if hasattr(self.backend, "write_reports"):
            self.backend.write_reports(self.run_dir)

    def save_best(self) -> None:
        """best.pt: the run's solution. For ES / CMA-ES it is the distribution mean (the population's best
        individual was scored on a few noisy episodes, and tends to be a lucky one); for a GA, the best individual.
        Never written with non-finite params (the previous best.pt stays).
        """
        center = self.strategy.center
        best = self.strategy.best_params
        params = center if center is not None else best
        if params is None or not math.isfinite(self.strategy.best_fitness):
            return  # nothing has scored finite yet: best.pt is written only for a finite best
        if not bool(torch.isfinite(params).all()) or (best is not None and not bool(torch.isfinite(best).all())):
            if not self._warned_nonfinite:
                print(f"metarl-gym {self.name}: warning: generation {self.generation - 1}: the solution holds non-finite "
                      "params; best.pt keeps the last finite one", file=sys.stderr)
                self._warned_nonfinite = True
            return
        self.run_dir.save_best(
            {
                "params": params.cpu(),
                "solution": "center" if center is not None else "best_individual",
                "best_individual": (best if best is not None else params).cpu(),
                "fitness": self.strategy.best_fitness,
                "generation": self.best_generation,
                "generations": self.generation,
                "config": self.config,
            }
        )

    def _log_tensorboard(self, metrics: dict[str, Any]) -> None:
        if not self.tensorboard:
            return
        if self._tensorboard is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ConfigError("logging.tensorboard", "needs the tensorboard package: pip install 'metarl_gym[tensorboard]' "
                                  "(or set logging.tensorboard: false)") from None
            # purge_step drops events of generations a resume recomputes
            self._tensorboard = SummaryWriter(str(self.run_dir.path("tensorboard")), purge_step=int(metrics["generation"]))
            self.run_dir._record("tensorboard")
        step = int(metrics["generation"])
        for key, value in metrics.items():
            if key != "generation" and isinstance(value, (int, float)) and math.isfinite(value):
                self._tensorboard.add_scalar(f"{self.name}/{key}", value, step)
        self._tensorboard.flush()

    # ---------------------------------------------------------------- the loop
    def run(self, progress: bool = True) -> dict[str, Any]:
        """Run the generations left (up to ``generations``); on SIGINT / SIGTERM stop after the current
        generation's writes (checkpoint included) and raise :class:`RunInterrupted`. Closes the backend."""
        generations = self.generations
        bar = tqdm(total=generations, initial=self.generation, desc=self.name, unit="gen", disable=not progress, dynamic_ncols=True)
        metrics: dict[str, Any] = {}
        try:
            with _StopSignals() as stop:
                while self.generation < generations:
                    metrics = self._generation()
                    bar.update(1)
                    bar.set_postfix(best=f"{metrics['best']:.4g}", mean=f"{metrics['mean']:.4g}")
                    if stop.signum is not None and self.generation < generations:
                        self.save_checkpoint()
                        name = signal.Signals(stop.signum).name
                        raise RunInterrupted(
                            f"{name}: stopped after generation {self.generation - 1} (checkpoint saved); resume with "
                            f"`metarl-gym {self.name} --resume {self.run_dir.root}`", stop.signum,
                        )
        finally:
            bar.close()
            self.close()
        self._plot()
        return {
            "run_dir": str(self.run_dir.root),
            "generations": self.generation,
            "best_fitness": self.strategy.best_fitness,
            "best_generation": self.best_generation,
            "env_steps": self.env_steps,
            "wall_s": self.wall_s,
            "last": metrics,
        }

    def _generation(self) -> dict[str, Any]:
        start = time.perf_counter()
        params = self.strategy.ask()
        fitness, stats = self.evaluate(params, self.generation)
        best_before = self.strategy.best_fitness
        metrics = self.strategy.tell(params, fitness)
        self.env_steps += int(stats["env_steps"])
        self.wall_s += time.perf_counter() - start
        # strictly better: the summary and best.pt name the first generation at the best (NaN compares False)
        improved = metrics["best"] > best_before or (self.best_generation < 0 and metrics["best"] >= best_before)
        if improved:
            self.best_generation = self.generation
        nonfinite = stats.get("num_nonfinite", metrics.get("num_nonfinite", 0))
        metrics = {**metrics, **stats.get("metrics", {}), "generation": self.generation, "num_nonfinite": int(nonfinite),
                   "env_steps": self.env_steps, "wall_s": round(self.wall_s, 3)}
        if "env" in self.config and "episode_returns" in stats:
            for name, returns in per_morphology(self.config, stats["episode_returns"]).items():
                metrics[f"mean_{name}"] = float(returns.mean())  # the population's mean and best on each morphology
                metrics[f"best_{name}"] = float(returns.max())
        extras = sorted(k for k in metrics if k not in METRIC_COLUMNS)
        self.run_dir.append_metrics(metrics, columns=METRIC_COLUMNS + extras)
        self._log_tensorboard(metrics)
        self._write_reports()
        self.generation += 1
        if self.best_pt and (improved or self.strategy.center is not None):
            self.save_best()
        if self.generation % self.checkpoint_every == 0 or self.generation == self.generations:
            self.save_checkpoint()
        return metrics

    def _plot(self) -> None:
        from ..plots import plot_fitness

        try:
            rows = self.run_dir.read_metrics()
            with self.run_dir.atomic_path("fitness.png") as tmp:
                plot_fitness([(self.run_dir.root.name, rows)], tmp, fmt="png")
        except (OSError, ValueError) as err:  # a plot must never fail a finished run
            print(f"metarl-gym {self.name}: warning: could not draw fitness.png ({err})", file=sys.stderr)


def evolve(config: dict[str, Any], run_dir: str | Path, *, progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Start a new run in ``run_dir`` and return a summary dict.

    Args:
        config: a config dict (defaults are filled in and checked, see :mod:`metarl_gym.config`).
        run_dir: the run directory: new, empty, or (with ``overwrite``) one to replace.
        progress: show the tqdm progress bar.
        overwrite: replace a directory holding another run or files metarl-gym did not write.

    Raises:
        UserError: an invalid config, or a directory that holds a run or foreign files (without ``overwrite``).
        RunInterrupted: SIGINT / SIGTERM stopped the run (after a checkpoint).
    """
    config = resolve_evolve_config(config)
    if config["seed"] is None:
        config["seed"] = draw_seed()
    rd = RunDir(run_dir, "evolve", overwrite=overwrite)
    run = EvolutionRun(config)  # builds (and so checks) env, policy and strategy before touching the directory
    try:
        run.backend = build_backend(config)  # an unreachable Ray cluster fails before the directory exists
        rd.create(None)
    except BaseException:
        run.close()
        raise
    run.run_dir = rd
    try:
        with rd.lock():
            rd.write_config(config)
            return run.run(progress=progress)
    finally:
        run.close()  # (run() closes it too; this covers a failed lock or config write)


def resume(run_dir: str | Path, *, progress: bool = True, generations: int | None = None) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its last checkpoint (optionally to a larger ``generations``).

    Raises:
        UserError: no evolve run there; config.yaml edited since the run started; another process is running
            on it; a missing / corrupt / unsafe checkpoint.pt; metrics.csv lost rows; ``generations`` smaller
            than the generations already run.
    """
    rd = RunDir(run_dir, "evolve").open_existing()
    with rd.lock():
        config = resolve_evolve_config(rd.read_config())
        if rd.recorded_config is not None:
            check_resume_config(rd.recorded_config, config, rd.path("config.yaml"))
        if generations is not None:
            if isinstance(generations, bool) or not isinstance(generations, int) or generations < 1:
                raise ConfigError("generations", f"must be a positive integer, got {generations!r}")
            config["generations"] = generations
        run = EvolutionRun(config, rd)
        try:
            run.restore()
            if generations is not None and generations < run.generation:
                raise UserError(f"{rd.root} already ran {run.generation} generations; generations={generations} cannot shorten it")
        except BaseException:
            run.close()
            raise
        if config != rd.recorded_config:
            rd.write_config(config)
        return run.run(progress=progress)
