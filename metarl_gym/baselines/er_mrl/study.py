"""The ER-MRL study: CMA-ES (:class:`metarl_gym.evolution.CMAES`, ask/tell) over reservoir hyper-parameters,
each candidate scored by PPO trials, kept in a :class:`~metarl_gym.run_dir.RunDir` so that it resumes exactly.

One generation::

    z = strategy.ask()                                  # [pop_size, d] genotypes; to_unit_box: log-scaled [0, 1]
    records = evaluate_candidates(config, [decode(to_unit_box(z_i)) for z_i in z], random_scores, map_fn)
    strategy.tell(z, [r["fitness"] for r in records])   # fitness maximised; NaN ranks last
    then, in this order: a metrics.csv row (fsync'ed), history.json and best.json, checkpoint.pt

checkpoint.pt is the commit point. It holds the strategy's ``state_dict`` (its generators included), the whole
history and the counters, and is loaded with ``torch.load(weights_only=True)``, so a crafted file cannot run
code. On resume, metrics.csv is cut back to the generations the checkpoint accounts for and history.json /
best.json are rewritten from it: a kill anywhere (during a generation, between the metrics row and the
checkpoint, during a write) resumes to exactly the uninterrupted run (wall_s aside).

A candidate's fitness is the mean score over ``fitness.seeds`` PPO seeds; a score is the mean return of the
last ``fitness.last_episodes`` episodes. With several envs each env's mean score is normalised,
``(score - random) / (target - random)``, and the fitness is the mean over envs (ER-MRL's generalisation
fitness; here ``random`` is a random policy's episode return, the seed used per-step means).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from ...errors import UserError
from ...evolution.cma_es import CMAES
from ...run_dir import RunDir
from .search_space import decode, encode, from_unit_box, parameter_names, reservoir_config, to_unit_box
from .workers import MapFn, ppo_config, random_policy_score, run_trial

CHECKPOINT_FORMAT = 1
METRIC_COLUMNS = ["generation", "best", "mean", "median", "worst", "best_ever", "num_nonfinite", "sigma", "env_steps", "trials", "wall_s"]
"""metrics.csv: one row per generation (statistics of the candidates' fitness; trials = PPO runs)."""


# ---------------------------------------------------------------------------------------------- evaluation
def trial_specs(config: dict[str, Any], candidates: list[dict[str, float]]) -> tuple[list[tuple[int, int, int]], list[dict]]:
    """One ``"score"`` trial spec per (candidate, env, seed): ``(keys [(c, e, s)], specs)``."""
    keys, specs = [], []
    for c, params in enumerate(candidates):
        reservoir = reservoir_config(params, config)
        for e, env in enumerate(config["envs"]):
            for s in range(config["fitness"]["seeds"]):
                keys.append((c, e, s))
                baseline = ppo_config(config, env, config["seed"] + s, config["fitness"]["total_timesteps"], reservoir)
                specs.append({"kind": "score", "baseline": baseline, "last_episodes": config["fitness"]["last_episodes"]})
    return keys, specs


def combine_scores(config: dict[str, Any], scores: dict[str, float], random_scores: dict[str, float]) -> float:
    """Per-env mean scores (keyed by env index ``"0"``, ``"1"``...) -> the fitness (normalised over several envs)."""
    envs = config["envs"]
    if len(envs) == 1:
        return scores["0"]
    normalised = []
    for i, env in enumerate(envs):
        random, target = random_scores[str(i)], env["target_score"]
        normalised.append((scores[str(i)] - random) / (target - random) if target != random else math.nan)
    return float(np.mean(normalised))


def evaluate_candidates(
    config: dict[str, Any],
    candidates: list[dict[str, float]],
    random_scores: dict[str, float],
    map_fn: MapFn,
) -> tuple[list[dict[str, Any]], int]:
    """Score every candidate: all its PPO trials go through one ``map_fn(run_trial, specs)`` call.

    Args:
        config: the resolved config.
        candidates: hyper-parameters per candidate (:func:`~.search_space.decode` output).
        random_scores: random-policy return per env index (several envs only).
        map_fn: ``map_fn(fn, specs) -> results`` in spec order (:class:`~.workers.LocalMap`, or a Ray map).

    Returns:
        ``(records, env_steps)``: per candidate ``{"params", "fitness", "scores": {env: mean},
        "seed_scores": {env: [per seed]}}`` and the env steps of all trials.
    """
    keys, specs = trial_specs(config, candidates)
    results = list(map_fn(run_trial, specs))
    if len(results) != len(specs):
        raise RuntimeError(f"map_fn returned {len(results)} results for {len(specs)} trial specs")
    seed_scores: list[dict[str, list[float]]] = [{} for _ in candidates]
    env_steps = 0
    for (c, e, _), result in zip(keys, results):
        seed_scores[c].setdefault(str(e), []).append(float(result["score"]))
        env_steps += int(result["env_steps"])
    records = []
    for c, params in enumerate(candidates):
        scores = {e: float(np.mean(v)) for e, v in seed_scores[c].items()}
        records.append({"params": params, "fitness": combine_scores(config, scores, random_scores), "scores": scores, "seed_scores": seed_scores[c]})
    return records, env_steps


def compute_random_scores(config: dict[str, Any]) -> dict[str, float]:
    """Random-policy returns per env index (given ``random_score`` values win); empty for one env."""
    if len(config["envs"]) == 1:
        return {}
    scores = {}
    for i, env in enumerate(config["envs"]):
        if env["random_score"] is not None:
            scores[str(i)] = float(env["random_score"])
        else:
            scores[str(i)] = random_policy_score(env, config["fitness"]["random_episodes"], config["seed"], config["device"])
    return scores


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN / inf: such numbers become null (nested dicts and lists followed)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------- the study
class Study:
    """The resumable CMA-ES study of one run directory.

    Args:
        config: a config resolved by :func:`~.config.resolve_er_mrl_config`.
        run_dir: the :class:`RunDir` (``kind="er_mrl"``, created or opened, its lock held by the caller).
        map_fn: how trials run (see :func:`evaluate_candidates`).
        progress: show a progress bar over generations.

    A fresh study writes checkpoint.pt for generation 0 at once; an existing checkpoint is loaded.
    """

    def __init__(self, config: dict[str, Any], run_dir: RunDir, map_fn: MapFn, progress: bool = True):
        self.config, self.run_dir, self.map_fn, self.progress = config, run_dir, map_fn, progress
        search = config["search"]
        x0 = from_unit_box(encode(search["x0"] or {}, config))
        self.strategy = CMAES(
            len(parameter_names(config)),
            pop_size=search["pop_size"],
            sigma0=search["sigma0"],
            seed=config["seed"] + 1,
            init_params=torch.as_tensor(x0, dtype=torch.float32),
            # ER-MRL's CMA-ES (Optuna's CmaEsSampler) samples without mirroring; pycma mirrors populations < 6
            cma_options={"CMA_mirrors": 0},
        )
        self.history: list[dict[str, Any]] = []
        self.generations: list[dict[str, Any]] = []
        self.env_steps, self.wall_s = 0, 0.0
        if run_dir.exists("checkpoint.pt"):
            self._load(run_dir.load_checkpoint())
            run_dir.truncate_metrics(self.generation)
            self._write_reports()
        else:
            self.random_scores = compute_random_scores(config)
            run_dir.truncate_metrics(0)
            self._save_checkpoint()

    @property
    def generation(self) -> int:
        """Generations finished."""
        return self.strategy.generation

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume (tensors, numbers, strings, containers: ``weights_only``-loadable)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "strategy": self.strategy.state_dict(),
            "history": self.history,
            "generations": self.generations,
            "random_scores": self.random_scores,
            "env_steps": self.env_steps,
            "wall_s": self.wall_s,
        }

    def _load(self, state: dict[str, Any]) -> None:
        path = self.run_dir.path("checkpoint.pt")
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise UserError(f"{path} is not an ER-MRL study checkpoint (format {CHECKPOINT_FORMAT}); start a new --run-dir")
        try:
            self.strategy.load_state_dict(state["strategy"])
            self.history, self.generations = list(state["history"]), list(state["generations"])
            self.random_scores = dict(state["random_scores"])
            self.env_steps, self.wall_s = int(state["env_steps"]), float(state["wall_s"])
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"{path} does not match this study's config or is damaged ({err}); start a new --run-dir") from None

    def _save_checkpoint(self) -> None:
        self.run_dir.save_checkpoint(self.state_dict())

    def _write_reports(self) -> None:
        self.run_dir.write_json("history.json", _finite_or_none(self.history))
        best = self.best()
        if best is not None:
            self.run_dir.write_json("best.json", _finite_or_none({**best, "random_scores": self.random_scores}))

    # ------------------------------------------------------------------ generations
    def run_generation(self) -> dict[str, Any]:
        """Ask, evaluate every candidate, tell; then the metrics row, reports and checkpoint. Returns the row."""
        start = time.perf_counter()
        z = self.strategy.ask()
        candidates = [decode(to_unit_box(zi.double().cpu().numpy()), self.config) for zi in z]
        records, steps = evaluate_candidates(self.config, candidates, self.random_scores, self.map_fn)
        fitness = torch.tensor([r["fitness"] for r in records], dtype=torch.float64)
        metrics = self.strategy.tell(z, fitness)
        generation = self.generation
        for c, record in enumerate(records):
            self.history.append({"generation": generation, "candidate": c, **record})
        self.env_steps += steps
        self.wall_s += time.perf_counter() - start
        row = {
            "generation": generation,
            **{k: metrics[k] for k in ("best", "mean", "median", "worst", "best_ever", "sigma")},
            "num_nonfinite": int(metrics["num_nonfinite"]),
            "env_steps": self.env_steps,
            "trials": len(records) * len(self.config["envs"]) * self.config["fitness"]["seeds"],
            "wall_s": round(self.wall_s, 3),
        }
        self.generations.append(row)
        # commit order: the row and reports first, the checkpoint last (a kill in between is cut back on resume)
        self.run_dir.append_metrics(row, METRIC_COLUMNS)
        self._write_reports()
        self._save_checkpoint()
        return row

    def run(self) -> dict[str, Any] | None:
        """Run the remaining generations (up to ``search.generations``); returns the best history entry."""
        from tqdm.auto import tqdm

        total = self.config["search"]["generations"]
        with tqdm(total=total, initial=self.generation, desc="er-mrl study", unit="gen", disable=not self.progress, dynamic_ncols=True) as bar:
            while self.generation < total:
                row = self.run_generation()
                bar.update(1)
                bar.set_postfix(best=f"{row['best']:.4g}", mean=f"{row['mean']:.4g}", steps=row["env_steps"])
        return self.best()

    def best(self) -> dict[str, Any] | None:
        """The history entry with the highest finite fitness (the first of ties), or None."""
        finite = [h for h in self.history if math.isfinite(h["fitness"])]
        return max(finite, key=lambda h: h["fitness"]) if finite else None


__all__ = ["METRIC_COLUMNS", "Study", "combine_scores", "compute_random_scores", "evaluate_candidates", "trial_specs"]
