"""The Ray population evaluator: slices of ``params [pop, D]`` evaluated on Ray actors, gathered in order.

Each actor (:class:`SliceWorker`) holds its own :class:`~metarl_gym.evolution.evaluate.Evaluator` (env batch and
policy built from the run config) and evaluates one slice at a time, keyed by (run seed, generation, index) as
every evaluation is, so the fitness is the local one bit for bit on CPU, for any number of workers. A slice lost with its actor is
re-run on another actor and the lost actor replaced (:mod:`metarl_gym.distributed.dispatch`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import ray
import torch
from ray.exceptions import RayActorError
from torch import Tensor
from tqdm import tqdm

from ..errors import UserError
from .dispatch import run_jobs
from .ray_init import init_ray, placement_notice, shutdown_ray
from .settings import resolve_distributed, slice_size_for
from ..evolution.evaluate import Evaluator
from .slices import merge_stats, slice_bounds


class SliceWorker:
    """A Ray actor: one env batch (per slice length) and one policy, evaluating slices sent to it.

    Args:
        config: the resolved evolve config.
        num_threads: torch intra-op threads (the actor's CPU share).
    """

    def __init__(self, config: dict[str, Any], num_threads: int):
        import metarl_gym  # noqa: F401  registers the MetaRL env ids in this process

        torch.set_num_threads(num_threads)
        self.device = torch.device(config["device"])
        self.evaluator = Evaluator(config)

    def pid(self) -> int:
        """The actor's process id (tests kill it)."""
        return os.getpid()

    def evaluate(self, params: Tensor, start: int, generation: int) -> tuple[Tensor, dict[str, Any]]:
        """Fitness ``[B]`` (CPU) and stats of the slice ``params [B, D]`` starting at individual ``start``."""
        fitness, stats = self.evaluator.evaluate_generation(params.to(self.device), generation, start)
        return fitness.cpu(), {k: v.cpu() if isinstance(v, Tensor) else v for k, v in stats.items()}


class RayBackend:
    """``evaluate(params, generation) -> (fitness, stats)`` on ``distributed.num_workers`` Ray actors.

    Connects to Ray as the config's ``distributed.address`` says (a local instance when null, shut down again
    by :meth:`close`), starts the actors and waits until each has built its env and policy.

    Args:
        config: a resolved evolve config with a ``distributed`` section.
    """

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.cfg = resolve_distributed(config.get("distributed"))
        gpus = self.cfg["num_gpus_per_worker"]
        if torch.device(config["device"]).type == "cuda" and gpus == 0:
            raise UserError(
                f"config key 'distributed.num_gpus_per_worker': device is {config['device']!r} but the Ray workers get "
                "no GPU; set it to the share of a GPU each worker needs (1, or 0.5 for two workers per GPU)"
            )
        self.owns_ray = init_ray(self.cfg)
        self._actor_class = ray.remote(SliceWorker).options(
            num_cpus=self.cfg["num_cpus_per_worker"],
            num_gpus=gpus,
            max_restarts=0,  # a lost actor is replaced by a fresh one (replace), its slice re-run elsewhere
            max_task_retries=0,
        )
        self._threads = max(1, int(self.cfg["num_cpus_per_worker"]))
        self.actors: list[Any] = []
        try:
            self.actors = [self._start() for _ in range(self.cfg["num_workers"])]
            self.pids = self._wait_started()  # surfaces a failing build_env at once
        except RayActorError as error:
            self.close()
            if error.actor_init_failed:
                cause = [line for line in str(error).splitlines() if line.strip()][-1]  # the worker's exception
                raise UserError(f"a Ray worker could not build its env / policy from the run config: {cause}") from error
            raise
        except BaseException:
            self.close()
            raise
        self.failures = 0

    def _wait_started(self) -> list[int]:
        """The actors' pids once each has built its env and policy. If Ray has not placed them all within
        ``connect_timeout_s`` (a cluster whose CPUs / GPUs are taken), says so on stderr, then keeps waiting."""
        refs = [actor.pid.remote() for actor in self.actors]
        _, waiting = ray.wait(refs, num_returns=len(refs), timeout=float(self.cfg["connect_timeout_s"]))
        if waiting:
            tqdm.write(f"metarl-gym: {placement_notice(len(waiting), len(refs), self.cfg)}", file=sys.stderr)
        return ray.get(refs)

    def _start(self):
        return self._actor_class.remote(self.config, self._threads)

    def _replace(self, actor):
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # already gone
            pass
        new = self._start()
        self.actors[self.actors.index(actor)] = new
        return new

    def evaluate(self, params: Tensor, generation: int) -> tuple[Tensor, dict[str, Any]]:
        """Fitness ``[pop]`` (on ``params.device``) of ``params [pop, num_params]`` and the summed stats.

        ``stats`` holds rollout's counters summed over slices plus ``slices`` and ``failures`` (workers lost and
        slices re-run during this generation).

        Raises:
            WorkerFailureError: more than ``distributed.max_failures`` workers lost during this generation.
        """
        pop = params.shape[0]
        host = params.detach().cpu()
        jobs = [(host[a:b].clone(), a) for a, b in slice_bounds(pop, slice_size_for(self.cfg, pop))]
        results, failures = run_jobs(
            jobs,
            list(self.actors),
            lambda actor, job: actor.evaluate.remote(job[0], job[1], generation),
            self._replace,
            self.cfg["max_failures"],
            what="slice",
            hint="The run directory keeps its last checkpoint: fix the workers (or raise distributed.max_failures) "
            "and resume with `metarl-gym evolve --resume RUN_DIR`.",
        )
        self.failures += failures
        fitness = torch.cat([f for f, _ in results]).to(params.device)
        stats = merge_stats([s for _, s in results])
        stats.update(slices=len(jobs), failures=failures)
        return fitness, stats

    def close(self) -> None:
        """Stop the actors (and the local Ray instance if this evaluator started it)."""
        for actor in self.actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                pass
        self.actors = []
        if self.owns_ray:
            shutdown_ray()
        self.owns_ray = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
