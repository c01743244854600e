"""ER-MRL's fitness function: reservoir hyper-parameters -> PPO trials -> one fitness per candidate.

The study is an ordinary evolution run (:class:`metarl_gym.evolution.runner.EvolutionRun`, the project's one
generation loop) whose strategy is CMA-ES over the genotypes of :mod:`.search_space` (:func:`build_strategy`) and
whose backend is :class:`ReservoirFitness`. One generation, as the runner runs it::

    z = strategy.ask()                                   # [pop_size, d] genotypes
    fitness, stats = ReservoirFitness.evaluate(z, g)     # decode(to_unit_box(z_i)) -> PPO trials through map_fn
    strategy.tell(z, fitness)                            # fitness maximised; NaN ranks last
    metrics.csv row (+ sigma, trials), history.json and best.json, checkpoint.pt (the commit point)

A candidate's fitness is the mean score over ``fitness.seeds`` PPO seeds; a score is the mean return of the
last ``fitness.last_episodes`` episodes. With several envs each env's mean score is normalised,
``(score - random) / (target - random)``, and the fitness is the mean over envs (ER-MRL's generalisation
fitness; here ``random`` is a random policy's episode return, the seed used per-step means).

The history of every candidate and the random-policy scores are the backend's state: they go into
checkpoint.pt (``weights_only``-loadable plain values) and history.json / best.json are rewritten from them on
resume.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ...evolution.cma_es import CMAES
from ...run_dir import RunDir
from .search_space import decode, encode, from_unit_box, parameter_names, reservoir_config, to_unit_box
from .workers import MapFn, ppo_config, random_policy_score, run_trial


def build_strategy(config: dict[str, Any]) -> CMAES:
    """The study's CMA-ES: genotypes of :func:`~.search_space.parameter_names`, started at ``search.x0`` (the
    centre of the log-scaled box where unset), step ``search.sigma0``, seeded ``seed + 1``, sampling without
    mirroring (ER-MRL's CMA-ES, Optuna's CmaEsSampler, does not mirror; pycma mirrors populations < 6)."""
    search = config["search"]
    x0 = from_unit_box(encode(search["x0"] or {}, config))
    return CMAES(
        len(parameter_names(config)),
        pop_size=search["pop_size"],
        sigma0=search["sigma0"],
        seed=config["seed"] + 1,
        init_params=torch.as_tensor(x0, dtype=torch.float32),
        cma_options={"CMA_mirrors": 0},
    )


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


def finite_or_none(value: Any) -> Any:
    """JSON has no NaN / inf: such numbers become null (nested dicts and lists followed)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value


class ReservoirFitness:
    """The backend of an ER-MRL evolution run: scores genotypes by PPO trials and records every candidate.

    Args:
        config: a config resolved by :func:`~metarl_gym.config.resolve_er_mrl_config`.
        map_fn: how trials run (see :func:`evaluate_candidates`); it belongs to the caller, who closes it
            (the test protocol uses it after the study).

    Attributes:
        history: one entry per candidate evaluated: ``{"generation", "candidate", "params", "fitness", "scores",
            "seed_scores"}``.
        random_scores: random-policy return per env index (measured at the first evaluation; ``{}`` for one env).
    """

    def __init__(self, config: dict[str, Any], map_fn: MapFn):
        self.config, self.map_fn = config, map_fn
        self.history: list[dict[str, Any]] = []
        self.random_scores: dict[str, float] | None = None
        self.trials_per_candidate = len(config["envs"]) * config["fitness"]["seeds"]

    def evaluate(self, params: torch.Tensor, generation: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """Fitness ``[pop]`` (float64; NaN where no episode finished) of genotypes ``params [pop, d]`` at
        ``generation``, and ``{"env_steps", "metrics": {"trials"}}``."""
        if self.random_scores is None:
            self.random_scores = compute_random_scores(self.config)
        candidates = [decode(to_unit_box(z.double().cpu().numpy()), self.config) for z in params]
        records, env_steps = evaluate_candidates(self.config, candidates, self.random_scores, self.map_fn)
        for c, record in enumerate(records):
            self.history.append({"generation": generation, "candidate": c, **record})
        fitness = torch.tensor([r["fitness"] for r in records], dtype=torch.float64)
        return fitness, {"env_steps": env_steps, "metrics": {"trials": len(records) * self.trials_per_candidate}}

    def best(self) -> dict[str, Any] | None:
        """The history entry with the highest finite fitness (the first of ties), or None."""
        finite = [h for h in self.history if math.isfinite(h["fitness"])]
        return max(finite, key=lambda h: h["fitness"]) if finite else None

    def state_dict(self) -> dict[str, Any]:
        """The history and random scores (plain values: ``torch.load(weights_only=True)`` loads them)."""
        return {"history": self.history, "random_scores": self.random_scores}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [dict(h) for h in state["history"]]
        self.random_scores = None if state["random_scores"] is None else dict(state["random_scores"])

    def write_reports(self, run_dir: RunDir) -> None:
        """history.json (every candidate) and, once a candidate scored finite, best.json (with the random scores)."""
        run_dir.write_json("history.json", finite_or_none(self.history))
        best = self.best()
        if best is not None:
            run_dir.write_json("best.json", finite_or_none({**best, "random_scores": self.random_scores or {}}))

    def close(self) -> None:
        """Nothing to release: the map function is the caller's."""


__all__ = [
    "ReservoirFitness", "build_strategy", "combine_scores", "compute_random_scores", "evaluate_candidates",
    "finite_or_none", "trial_specs",
]
