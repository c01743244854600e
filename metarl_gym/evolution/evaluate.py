"""One evaluation path: from a config and a population to fitness, the same wherever and however it runs.

:class:`Evaluator` holds what evaluating one config needs in one process: the env batches (built through
:func:`metarl_gym.envs.make`, the package's one env builder), the policy, the lifetime rule and the engine options.
Every caller evaluates through it: the runner (each generation), the Ray workers and the local backend of
:mod:`metarl_gym.distributed`, ``metarl-gym evaluate`` and the examples.

**Keys.** Individual j of generation g of a run seeded s is keyed ``keys.key(s, g, j)`` (:func:`generation_keys`):
every random draw of its lifetimes (env starts, task draws, initial plastic weights, policy noise) derives from that
key (:mod:`metarl_gym.keys`). Its fitness is then a function of its genome, the run seed, the generation and its
index only — the same whatever its neighbours, the engine, the block size, how the population is sliced and how
many Ray workers share it.

**Lifetimes.** ``episodes`` episodes per individual: a static policy plays them side by side (``episodes`` rows,
one episode each, so the blocked engine can run them); a plastic policy plays them one after another in one row
(its lifetime: what it learnt carries over).

**Morphologies.** With ``env.morphologies: [a, b, ...]`` (envs with a ``morphology`` argument, e.g. the pybullet
Ant) every individual lives the above once per morphology, each a lifetime of its own (fresh initial weights, as
the Hebbian seed scores its Ants), and its fitness is the mean over them; :func:`per_morphology` splits
the episode returns back per morphology.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from torch import Tensor

from .. import keys as rk
from ..agents import policy_class
from ..config import resolve_evolve_config
from ..envs.base import TorchVectorEnv
from ..envs.make import make
from ..errors import UserError
from ..run_dir import RunDir
from .rollout import EarlyStop, rollout


def generation_keys(run_seed: int, generation: int, start: int, count: int, device=None) -> Tensor:
    """``[count]`` int64 keys of individuals ``start .. start + count - 1`` of ``generation``."""
    return rk.key(int(run_seed), int(generation), torch.arange(start, start + count, device=device))


def per_morphology(config: dict[str, Any], episode_returns: Tensor) -> dict[str, Tensor]:
    """``{morphology: [k]}``: each individual's mean return on each of ``env.morphologies``, from the
    ``episode_returns [k, episodes * len(morphologies)]`` of an evaluation (the morphologies' episodes are
    contiguous column blocks); ``{}`` without morphologies."""
    names = config["env"].get("morphologies") or []
    if not names:
        return {}
    blocks = episode_returns.reshape(episode_returns.shape[0], len(names), int(config["episodes"]))
    return {name: blocks[:, m].mean(dim=1) for m, name in enumerate(names)}


def build_env(config: dict[str, Any], num_envs: int | None, *, render_mode: str | None = None):
    """The env of ``config["env"]`` through :func:`metarl_gym.envs.make` (every command builds its env here): a
    torch vector env of ``num_envs`` rows (velocity-masked / reservoir-encoded if asked), or one numpy env for
    ``num_envs=None``.

    A reservoir whose ``seed`` the config leaves out is seeded with the run's ``seed`` (as ER-MRL does): every
    env batch of a run, in any worker, slice or later ``evaluate``, then encodes with the same random matrices.
    """
    env_cfg = config["env"]
    kwargs = dict(env_cfg.get("kwargs") or {})
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    reservoir = env_cfg.get("reservoir")
    if reservoir is not None:
        reservoir = {"seed": config["seed"], **reservoir}
    try:
        return make(
            env_cfg["id"], num_envs, device=config["device"], vectorization_mode=env_cfg.get("vectorization_mode"),
            mask_velocity=env_cfg.get("mask_velocity", False), reservoir=reservoir, **kwargs,
        )
    except (UserError, ValueError) as err:  # (a reservoir's constructor raises ValueError for a bad argument)
        raise UserError(f"config section 'env': {err}") from None


def build_policy(config: dict[str, Any], env):
    """The policy of ``config["policy"]`` for the spaces of ``env`` (a single or a vector env)."""
    cls = policy_class(config["policy"]["name"])
    space = getattr(env, "single_observation_space", env.observation_space)
    action_space = getattr(env, "single_action_space", env.action_space)
    try:
        return cls(space, action_space, **config["policy"]["kwargs"])
    except (TypeError, ValueError) as err:
        raise UserError(f"config key 'policy.kwargs': {err}") from None


class Evaluator:
    """Evaluates individuals of one config in this process.

    Args:
        config: a resolved config with ``env``, ``policy``, ``device``, ``episodes`` and ``rollout`` sections
            (``seed`` too for :meth:`evaluate_generation`).

    Attributes:
        policy: the batched policy.
        copies: env rows per individual (``episodes`` for static policies, 1 for plastic ones; times the number
            of ``env.morphologies``).
        num_episodes: episodes per individual (``episodes`` times the number of morphologies).
    """

    def __init__(self, config: dict[str, Any]):
        self.config = config
        probe = build_env(config, 1)
        self.policy = build_policy(config, probe)
        # A TorchVectorEnv (torch-batched or pybullet) re-draws every row on reset(seed): built once per row count.
        # Gymnasium's own vector envs are rebuilt for every evaluation: a Box2D env reset with a seed still carries
        # its b2World's history (BipedalWalker's returns then depend on what the env ran before).
        self.reuse_envs = isinstance(probe.unwrapped, TorchVectorEnv)
        probe.close()
        self.episodes = int(config["episodes"])
        self.morphologies = list(config["env"].get("morphologies") or [])
        if self.morphologies and "morphology" in (config["env"].get("kwargs") or {}):
            raise UserError("config section 'env': set env.morphologies (one lifetime on each) or env.kwargs.morphology, not both")
        lifetimes = max(1, len(self.morphologies))  # per individual
        # rows per individual: a static policy's episodes side by side, a plastic one's in one row; per morphology
        self.copies = (1 if getattr(self.policy, "plastic", False) else self.episodes) * lifetimes
        self.num_episodes = self.episodes * lifetimes
        r = config["rollout"]
        self.early_stop = EarlyStop(**r["early_stop"]) if r.get("early_stop") else None
        self.engine = {"engine": r["engine"], "block_size": r["block_size"], "compile": r["compile"]}
        self._envs: dict[int, Any] = {}

    def env_for(self, individuals: int):
        """The env batch of ``individuals * copies`` rows (row r of an individual on morphology
        ``r // (copies / len(morphologies))``)."""
        rows = individuals * self.copies
        if rows not in self._envs:
            config = self.config
            if self.morphologies:
                per = self.copies // len(self.morphologies)
                names = [self.morphologies[(r % self.copies) // per] for r in range(rows)]
                env_cfg = config["env"]
                config = {**config, "env": {**env_cfg, "kwargs": {**(env_cfg.get("kwargs") or {}), "morphology": names}}}
            self._envs[rows] = build_env(config, rows)
        return self._envs[rows]

    def evaluate(self, params: Tensor, keys: Tensor) -> tuple[Tensor, dict[str, Any]]:
        """Fitness ``[k]`` float32 of ``params [k, D]`` whose individuals have keys ``keys [k]`` int64, and
        rollout's stats (``episode_returns [k, episodes]`` among them)."""
        env = self.env_for(params.shape[0])
        try:
            return rollout(env, self.policy, params, num_episodes=self.num_episodes, seed=keys.to(params.device),
                           early_stop=self.early_stop, return_stats=True, **self.engine)
        finally:
            if not self.reuse_envs:
                self._envs.pop(params.shape[0] * self.copies).close()

    def evaluate_generation(self, params: Tensor, generation: int, start: int = 0) -> tuple[Tensor, dict[str, Any]]:
        """Fitness and stats of individuals ``start .. start + k - 1`` (``params [k, D]``) of ``generation``,
        keyed by (run seed, generation, index): see :func:`generation_keys`."""
        seed = self.config.get("seed")
        if seed is None:
            raise UserError("config key 'seed': evaluating a generation needs an integer run seed (evolve fixes one)")
        return self.evaluate(params, generation_keys(seed, generation, start, params.shape[0], params.device))

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()


SCORE_SLICE = 1024
"""Lifetimes per rollout of :func:`score` (bounds its memory; the answer does not depend on it)."""


def score(config: dict[str, Any], params: Tensor, lifetimes: int, seed: int, *, static_episodes: int | None = None,
          progress: bool = False) -> Tensor:
    """Fitness of ``lifetimes`` fresh lifetimes of one genome ``params [D]``: lifetime j keyed ``keys.key(seed, j)``
    (new start states, tasks and random initial weights each), evaluated in slices of :data:`SCORE_SLICE`.
    With ``params [lifetimes, D]`` lifetime j lives genome j (e.g. random genomes as a control, on the very
    lifetimes, the same keys, that a solution is scored on).

    Args:
        config: a resolved config.
        params: ``[D]`` (or ``[1, D]``) genome, or ``[lifetimes, D]`` genomes, one per lifetime.
        lifetimes: number of lifetimes.
        seed: the evaluation seed (use one never used in training).
        static_episodes: episodes per lifetime of a static policy (default: the config's ``episodes``; 1 scores
            single episodes, as ``metarl-gym evaluate``); a plastic policy always lives the config's lifetime.
        progress: a tqdm bar over the lifetimes.

    Returns:
        ``[lifetimes]`` float64 on the CPU: each lifetime's mean episode return (``-inf`` where it went non-finite).
    """
    if params.ndim not in (1, 2) or (params.ndim == 2 and params.shape[0] not in (1, lifetimes)):
        raise UserError(f"score: params must be one genome [D] / [1, D] or one per lifetime [{lifetimes}, D], got {tuple(params.shape)}")
    params = params.reshape(-1, params.shape[-1]).expand(lifetimes, -1)
    evaluator = Evaluator(config)
    if static_episodes is not None and not getattr(evaluator.policy, "plastic", False):
        evaluator.close()
        evaluator = Evaluator({**config, "episodes": int(static_episodes)})
    out = []
    try:
        with tqdm(total=lifetimes, desc="evaluate", unit="lifetime", disable=not progress, dynamic_ncols=True) as bar:
            for start in range(0, lifetimes, SCORE_SLICE):
                count = min(SCORE_SLICE, lifetimes - start)
                keys = rk.key(int(seed), torch.arange(start, start + count, device=params.device))
                fitness, _ = evaluator.evaluate(params[start : start + count], keys)
                out.append(fitness.double().cpu())
                bar.update(count)
    finally:
        evaluator.close()
    return torch.cat(out)


def load_solution(run_dir: str | Path) -> tuple[dict[str, Any], Tensor]:
    """``(config, params [D])`` of an evolve run's solution (``best.pt``), on the config's device.

    Raises:
        UserError: no evolve run there, no best.pt yet, or a best.pt without finite params.
    """
    rd = RunDir(run_dir, "evolve").open_existing()
    if not rd.exists("best.pt"):
        rows = rd.read_metrics() if rd.path("metrics.csv").is_file() else []
        if rows and not math.isfinite(_as_float(rows[-1].get("best_ever"))):  # was "no best.pt yet" after a whole run
            raise UserError(f"{rd.root} has no best.pt: no individual of its {len(rows)} generation(s) scored a finite "
                            "fitness (metrics.csv counts them in num_nonfinite), so there is no solution to evaluate")
        raise UserError(f"{rd.root} has no best.pt yet; it is written after the first generation")
    try:
        rd.verify("config.yaml")
    except UserError:  # an edited config would evaluate another policy than the one trained (issue 19)
        raise UserError(f"{rd.path('config.yaml')} was changed after the run wrote it; the solution is evaluated with "
                        "the config it was trained with: restore the file (run.json keeps a copy)") from None
    config = resolve_evolve_config(rd.read_config())
    best = rd.load_best(map_location=config["device"])
    params = best.get("params") if isinstance(best, dict) else None
    if not isinstance(params, Tensor) or not bool(torch.isfinite(params).all()):
        raise UserError(f"{rd.path('best.pt')} holds no finite 'params' tensor; it was not written by metarl-gym evolve")
    return config, params.reshape(-1).to(config["device"])


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


__all__ = ["Evaluator", "build_env", "build_policy", "generation_keys", "load_solution", "per_morphology", "score"]
