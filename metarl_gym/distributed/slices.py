"""Population slices: the unit of distributed evaluation, and the in-process evaluator of slices.

Why fixed slices. A torch-batched env draws the starting states of all its rows from one generator, and a
stochastic or plastic policy draws its noise / initial weights for all rows from one generator, so an
individual's fitness depends on which batch it was evaluated in. The population ``[pop, D]`` is therefore cut
into slices ``[start, stop)`` of ``slice_size`` individuals (the last one shorter), fixed by the config and the
population size alone, and every slice is one :func:`~metarl_gym.evolution.rollout.rollout` call seeded with

    slice_seed = evaluation_seed(run seed, generation) + start * copies

(``copies`` env rows per individual). An individual's fitness is then a function of (run seed, generation,
slice layout, its index), never of which worker ran its slice, in which order, or how often the slice was
re-run after a lost worker: :class:`LocalEvaluator` (this process) and the Ray evaluator give the same
fitness bit for bit on CPU.

Two consequences, both tested:

* With one slice (``slice_size >= pop``) the seed is the runner's plain evaluation seed, so the fitness is
  that of today's local run, which calls rollout on the whole population.
* Gymnasium vector envs and the pybullet N-client env seed row ``i`` with ``seed + i``; the offset
  ``start * copies`` gives every row the seed it has in the whole-population batch. For those envs and a policy
  that draws no random numbers (an MLP) the fitness does not depend on the slicing at all.

A slice's fitness must not depend on what its worker's env ran before either: TorchVectorEnvs (torch-batched
and pybullet) re-draw every row on ``reset(seed)`` and are reused; Gymnasium's own vector envs are built afresh
for every slice (a Box2D env keeps its ``b2World`` across resets, and BipedalWalker-v3 reset with the same seed
after other episodes gives other returns).

Per-row env options indexed by the row (a list of N morphology names) do not fit a slice's shorter batch;
``morphology_cycle`` does (a slice's row ``j`` follows the cycle from ``j``, as row ``j`` of a batch).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..envs.base import TorchVectorEnv
from ..errors import UserError
from .settings import resolve_distributed, slice_size_for


def slice_bounds(pop: int, slice_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(pop)`` in order, each ``slice_size`` long but the last."""
    if pop < 1 or slice_size < 1:
        raise ValueError(f"need pop >= 1 and slice_size >= 1, got pop={pop}, slice_size={slice_size}")
    return [(start, min(start + slice_size, pop)) for start in range(0, pop, slice_size)]


def slice_seed(run_seed: int, generation: int, start: int, copies: int) -> int:
    """The rollout seed of the slice starting at individual ``start`` (see the module docstring)."""
    from ..evolution.runner import evaluation_seed

    return evaluation_seed(run_seed, generation) + start * copies


def evaluation_settings(config: dict[str, Any]) -> dict[str, Any]:
    """What evaluating one slice needs from a resolved evolve config: episodes, early stop, engine kwargs."""
    rollout_cfg = config.get("rollout") or {}
    if config.get("seed") is None:
        raise UserError("config key 'seed': the distributed evaluator needs an integer run seed (evolve fixes one)")
    engine_kwargs = {k: rollout_cfg[k] for k in ("engine", "block_size", "compile") if k in rollout_cfg}
    return {"episodes": config["episodes"], "early_stop": rollout_cfg.get("early_stop"), "engine_kwargs": engine_kwargs}


class SliceEvaluator:
    """Evaluates slices of a population in this process, building one env batch per slice length it meets.

    A Ray worker holds one of these; :class:`LocalEvaluator` uses one directly.

    Args:
        config: a resolved evolve config (``env``, ``policy``, ``device``, ``seed``, ``rollout`` ...).
    """

    def __init__(self, config: dict[str, Any]):
        from ..evolution.runner import build_env, build_policy

        self.config = config
        self.settings = evaluation_settings(config)
        self._build_env = build_env
        probe = build_env(config, 1)
        self.policy = build_policy(config, probe)
        # A TorchVectorEnv (torch-batched or pybullet) re-draws every row on reset(seed): reused across slices.
        # Gymnasium's own vector envs are rebuilt for every slice: a Box2D env reset with a seed still carries
        # its b2World's history (BipedalWalker's fitness then depends on what the env ran before).
        self.reuse_envs = isinstance(probe.unwrapped, TorchVectorEnv)
        probe.close()
        # Static policies play their episodes side by side; plastic ones in sequence (one lifetime), as the runner.
        self.copies = 1 if getattr(self.policy, "plastic", False) else self.settings["episodes"]
        self.envs: dict[int, Any] = {}  # rows -> env (at most two lengths: slice_size and the last slice's)

    def env_for(self, individuals: int):
        """The env batch for ``individuals`` individuals (a TorchVectorEnv is built once and reused)."""
        rows = individuals * self.copies
        if rows not in self.envs:
            self.envs[rows] = self._build_env(self.config, rows)
        return self.envs[rows]

    def evaluate_slice(self, params: Tensor, start: int, generation: int) -> tuple[Tensor, dict[str, Any]]:
        """Fitness ``[stop - start]`` float32 (on ``params.device``) and rollout's stats of one slice.

        Args:
            params: ``[stop - start, num_params]``, the slice's individuals.
            start: index of the slice's first individual in the population.
            generation: the generation being evaluated.
        """
        from ..evolution.rollout import rollout

        s = self.settings
        seed = slice_seed(self.config["seed"], generation, start, self.copies)
        env = self.env_for(params.shape[0])
        try:
            return rollout(
                env,
                self.policy,
                params,
                num_episodes=s["episodes"],
                seed=seed,
                early_stop=s["early_stop"],
                return_stats=True,
                **s["engine_kwargs"],
            )
        finally:
            if not self.reuse_envs:
                self.envs.pop(params.shape[0] * self.copies).close()

    def close(self) -> None:
        for env in self.envs.values():
            env.close()
        self.envs.clear()


def merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the integer counters of several slices' rollout stats; keep the other entries of the first."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, int) and not isinstance(value, bool):
                out[key] = out.get(key, 0) + value
            else:
                out.setdefault(key, value)
    return out


class LocalEvaluator:
    """The slice-by-slice evaluation in this process: the reference the Ray evaluator reproduces exactly.

    Args:
        config: a resolved evolve config; its ``distributed`` section fixes the slicing.
    """

    def __init__(self, config: dict[str, Any]):
        self.distributed = resolve_distributed(config.get("distributed"))
        self.slices = SliceEvaluator(config)

    def evaluate(self, params: Tensor, generation: int) -> tuple[Tensor, dict[str, Any]]:
        """Fitness ``[pop]`` and stats of ``params [pop, num_params]``, slice after slice."""
        bounds = slice_bounds(params.shape[0], slice_size_for(self.distributed, params.shape[0]))
        results = [self.slices.evaluate_slice(params[a:b], a, generation) for a, b in bounds]
        fitness = torch.cat([f for f, _ in results])
        stats = merge_stats([s for _, s in results])
        stats.update(slices=len(bounds), failures=0)
        return fitness, stats

    def close(self) -> None:
        self.slices.close()


__all__ = ["LocalEvaluator", "SliceEvaluator", "evaluation_settings", "merge_stats", "slice_bounds", "slice_seed"]
