"""ER-MRL: evolving reservoir hyper-parameters with CMA-ES around an SB3 PPO learner, on MetaRL envs.

Léger, Hamon, Nisioti, Hinaut & Moulin-Frier 2024, "Evolving Reservoirs for Meta Reinforcement Learning",
EvoApplications (LNCS), arXiv 2312.06695 — the reservoir is Jaeger's echo-state network (see
:mod:`metarl_gym.agents.reservoir`); the outer loop is CMA-ES (Hansen & Ostermeier 2001, the ``cma`` package).

The two nested loops:

* **inner (a lifetime)**: PPO learns a policy on the states of reservoirs that encode the (velocity-masked)
  observation, the previous action and the previous reward. The score of one PPO run is the mean return of its
  last ``last_episodes`` (10) episodes.
* **outer (evolution)**: CMA-ES searches the reservoirs' hyper-parameters — per reservoir the spectral radius
  ∈ [1e-4, 1e2], leak rate ∈ [1e-2, 1] and input scaling ∈ [1e-1, 10] — in log scale (each coordinate mapped to
  [0, 1]). A candidate's fitness is the mean score over ``fitness.seeds`` PPO seeds (each seed also draws the
  reservoir's random matrices, as in ER-MRL: hyper-parameters are evolved, not weights). With several envs
  (generalisation) each env's score is normalised, ``(score - random) / (target - random)``, and the fitness is
  the mean over envs. The seed's random scores are per-step means (a quirk); here they are random-policy episode
  returns.

Then the **test protocol**: the best reservoirs + PPO against plain PPO on the test env (by default the first
evolution env; a held-out env for generalisation) over ``test.seeds`` seeds, with one plot of mean ± std
episode return against env steps.

Every PPO run is one job, run in ``workers`` worker processes (``concurrent.futures.ProcessPoolExecutor``).
The study is resumable: after each generation the CMA-ES state, the numpy RNG state and the history are written
atomically to the run directory; calling :func:`run_er_mrl` again with the same run directory continues (finished
test runs are kept too).

Run directory::

    config.yaml        resolved config
    study.pkl          CMA-ES object + RNG state + history (resume)
    history.json       every candidate: generation, hyper-parameters, fitness, per-env scores
    metrics.csv        one row per generation: env_steps,wall_s,mean,median,best,worst,episodes,generation
                       (statistics of the candidates' fitness; episodes = PPO runs in the generation)
    best.json          the best hyper-parameters found and their fitness
    test/<condition>/seed_<k>/   run_baseline directories (config.yaml, metrics.csv, model.zip, result.json)
    comparison.png     mean ± std return against env steps, reservoir PPO vs PPO
    test_summary.json  final returns per condition and whether the reservoir helped
"""

from __future__ import annotations

import copy
import csv
import json
import math
import multiprocessing
import os
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cma
import numpy as np
import torch

from ..config import ConfigError, dump_yaml
from .run import METRICS_COLUMNS, make_torch_env, resolve_baseline_config, run_baseline, train

SEARCH_BOUNDS = {"spectral_radius": (1e-4, 1e2), "leak_rate": (1e-2, 1.0), "input_scaling": (1e-1, 10.0)}
"""ER-MRL's log-uniform search ranges (scripts/evolve_res.py)."""

TARGET_SCORES = {
    "MetaRL/CartPole-v1": 500.0,
    "MetaRL/PendulumSwingup-v1": -200.0,
    "MetaRL/Pendulum-v0": 4000.0,
}
"""Default target episode returns for the normalised (generalisation) fitness."""

ER_MRL_DEFAULTS: dict[str, Any] = {
    "envs": [{"id": "MetaRL/CartPole-v1", "kwargs": {}, "mask_velocity": True}],
    "seed": 0,
    "device": "auto",
    "workers": 1,
    "threads": None,
    "reservoir": {
        "nb_res": 1,
        "units": 100,
        "rc_connectivity": 0.1,
        "input_connectivity": 0.1,
        "bias_scaling": 1.0,
        "use_action": True,
        "use_reward": True,
        "skip_connection": False,
    },
    "search": {
        "generations": 10,
        "popsize": 8,
        "sigma0": 0.25,
        "x0": None,
        "evolve_input_scaling": True,
        "input_scaling": 1.0,
    },
    "fitness": {"seeds": 3, "total_timesteps": 300_000, "last_episodes": 10, "random_episodes": 20},
    "ppo": {"n_envs": 1, "algorithm_kwargs": {}},
    "test": {"env": None, "seeds": 5, "total_timesteps": 1_000_000},
}
"""The seed's defaults (300k PPO steps, 3 seeds, 5 test seeds); the example config shrinks the budgets."""

ENV_KEYS = {"id", "kwargs", "mask_velocity", "random_score", "target_score"}


# ---------------------------------------------------------------------------------------------- config
def _merge_section(defaults: dict, given: Any, name: str) -> dict:
    if given is None:
        return copy.deepcopy(defaults)
    if not isinstance(given, dict):
        raise ConfigError(name, f"must be a mapping, got {given!r}")
    unknown = set(given) - set(defaults)
    if unknown:
        raise ConfigError(f"{name}.{sorted(unknown)[0]}", f"unknown key; allowed: {sorted(defaults)}")
    return {**copy.deepcopy(defaults), **copy.deepcopy(given)}


def _check_int(value, key: str, low: int = 1) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(key, f"must be an integer >= {low}, got {value!r}")
    return value


def _check_env(env: Any, key: str) -> dict:
    if isinstance(env, str):
        env = {"id": env}
    if not isinstance(env, dict):
        raise ConfigError(key, f"must be a mapping {{id: ..., kwargs: {{}}, mask_velocity: bool}}, got {env!r}")
    unknown = set(env) - ENV_KEYS
    if unknown:
        raise ConfigError(f"{key}.{sorted(unknown)[0]}", f"unknown key; allowed: {sorted(ENV_KEYS)}")
    env = {"id": env.get("id"), "kwargs": env.get("kwargs") or {}, "mask_velocity": env.get("mask_velocity", False),
           "random_score": env.get("random_score"), "target_score": env.get("target_score")}
    # reuse the baseline checks for id, kwargs and mask_velocity
    try:
        resolve_baseline_config({"env": {"id": env["id"], "kwargs": env["kwargs"]}, "mask_velocity": env["mask_velocity"]})
    except ConfigError as exc:
        raise ConfigError(f"{key}.{exc.key_path}", str(exc).split(": ", 1)[1]) from None
    for score in ("random_score", "target_score"):
        if env[score] is not None and not isinstance(env[score], (int, float)):
            raise ConfigError(f"{key}.{score}", f"must be a number or null, got {env[score]!r}")
    return env


def resolve_er_mrl_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill the defaults of ``ER_MRL_DEFAULTS`` and validate; :class:`ConfigError` names the key path.

    Args:
        config: the loaded YAML (overrides applied).

    Returns:
        The resolved config (a new dict).
    """
    if not isinstance(config, dict):
        raise ConfigError("<root>", f"an ER-MRL config must be a mapping, got {type(config).__name__}")
    unknown = set(config) - set(ER_MRL_DEFAULTS)
    if unknown:
        raise ConfigError(sorted(unknown)[0], f"unknown key; allowed keys: {sorted(ER_MRL_DEFAULTS)}")
    c: dict[str, Any] = {}
    envs = config.get("envs", ER_MRL_DEFAULTS["envs"])
    if not isinstance(envs, list) or not envs:
        raise ConfigError("envs", f"must be a non-empty list of envs, got {envs!r}")
    c["envs"] = [_check_env(env, f"envs.{i}") for i, env in enumerate(envs)]
    c["seed"] = config.get("seed", 0)
    if not isinstance(c["seed"], int) or isinstance(c["seed"], bool):
        raise ConfigError("seed", f"must be an integer, got {c['seed']!r}")
    c["device"] = resolve_baseline_config({"env": {"id": c["envs"][0]["id"]}, "device": config.get("device", "auto")})["device"]
    c["workers"] = _check_int(config.get("workers", 1), "workers")
    c["threads"] = config.get("threads")
    if c["threads"] is not None:
        c["threads"] = _check_int(c["threads"], "threads")
    for section in ("reservoir", "search", "fitness", "ppo", "test"):
        c[section] = _merge_section(ER_MRL_DEFAULTS[section], config.get(section), section)

    r = c["reservoir"]
    r["nb_res"] = _check_int(r["nb_res"], "reservoir.nb_res")
    r["units"] = _check_int(r["units"], "reservoir.units")
    for key in ("rc_connectivity", "input_connectivity"):
        if not isinstance(r[key], (int, float)) or not 0 < r[key] <= 1:
            raise ConfigError(f"reservoir.{key}", f"must be in (0, 1], got {r[key]!r}")
    for key in ("use_action", "use_reward", "skip_connection"):
        if not isinstance(r[key], bool):
            raise ConfigError(f"reservoir.{key}", f"must be true or false, got {r[key]!r}")

    s = c["search"]
    s["generations"] = _check_int(s["generations"], "search.generations")
    s["popsize"] = _check_int(s["popsize"], "search.popsize", low=2)
    if not isinstance(s["sigma0"], (int, float)) or not 0 < s["sigma0"] <= 1:
        raise ConfigError("search.sigma0", f"must be in (0, 1] (a step in log-scaled [0, 1] coordinates), got {s['sigma0']!r}")
    if not isinstance(s["evolve_input_scaling"], bool):
        raise ConfigError("search.evolve_input_scaling", f"must be true or false, got {s['evolve_input_scaling']!r}")
    low, high = SEARCH_BOUNDS["input_scaling"]
    if not isinstance(s["input_scaling"], (int, float)) or s["input_scaling"] <= 0:
        raise ConfigError("search.input_scaling", f"must be a number > 0 (the fixed input scaling), got {s['input_scaling']!r}")
    if s["x0"] is not None:
        if not isinstance(s["x0"], dict):
            raise ConfigError("search.x0", f"must be null or a mapping of starting values, e.g. {{spectral_radius: 1.0, leak_rate: 0.3}}, got {s['x0']!r}")
        for name, value in s["x0"].items():
            if name not in SEARCH_BOUNDS:
                raise ConfigError(f"search.x0.{name}", f"unknown hyper-parameter; allowed: {sorted(SEARCH_BOUNDS)}")
            lo, hi = SEARCH_BOUNDS[name]
            if not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ConfigError(f"search.x0.{name}", f"must be in [{lo}, {hi}], got {value!r}")

    f = c["fitness"]
    f["seeds"] = _check_int(f["seeds"], "fitness.seeds")
    f["total_timesteps"] = _check_int(f["total_timesteps"], "fitness.total_timesteps")
    f["last_episodes"] = _check_int(f["last_episodes"], "fitness.last_episodes")
    f["random_episodes"] = _check_int(f["random_episodes"], "fitness.random_episodes")

    p = c["ppo"]
    p["n_envs"] = _check_int(p["n_envs"], "ppo.n_envs")
    try:
        resolve_baseline_config({"env": {"id": c["envs"][0]["id"]}, "algorithm_kwargs": p["algorithm_kwargs"]})
    except ConfigError as exc:
        raise ConfigError(f"ppo.{exc.key_path}", str(exc).split(": ", 1)[1]) from None

    t = c["test"]
    t["seeds"] = _check_int(t["seeds"], "test.seeds")
    t["total_timesteps"] = _check_int(t["total_timesteps"], "test.total_timesteps")
    t["env"] = _check_env(t["env"], "test.env") if t["env"] is not None else copy.deepcopy(c["envs"][0])

    if len(c["envs"]) > 1:
        for i, env in enumerate(c["envs"]):
            if env["target_score"] is None:
                if env["id"] not in TARGET_SCORES:
                    raise ConfigError(f"envs.{i}.target_score", f"needed to normalise the fitness over several envs (no default for {env['id']})")
                env["target_score"] = TARGET_SCORES[env["id"]]
    return c


# ---------------------------------------------------------------------------------------------- search space
def parameter_names(config: dict[str, Any]) -> list[str]:
    """Names of the searched coordinates, e.g. ``["spectral_radius_0", "leak_rate_0", "input_scaling_0"]``."""
    per_res = ["spectral_radius", "leak_rate"] + (["input_scaling"] if config["search"]["evolve_input_scaling"] else [])
    return [f"{name}_{k}" for k in range(config["reservoir"]["nb_res"]) for name in per_res]


def decode(z: np.ndarray, config: dict[str, Any]) -> dict[str, float]:
    """CMA-ES coordinates ``z ∈ [0, 1]^d`` -> hyper-parameters (log-uniform within ``SEARCH_BOUNDS``)."""
    values = {}
    for name, zi in zip(parameter_names(config), np.clip(np.asarray(z, dtype=np.float64), 0.0, 1.0)):
        lo, hi = SEARCH_BOUNDS[name.rsplit("_", 1)[0]]
        values[name] = float(10 ** (math.log10(lo) + zi * (math.log10(hi) - math.log10(lo))))
    return values


def encode(values: dict[str, float], config: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`decode` (``values`` keyed by the plain names apply to every reservoir)."""
    z = []
    for name in parameter_names(config):
        base = name.rsplit("_", 1)[0]
        lo, hi = SEARCH_BOUNDS[base]
        value = values.get(name, values.get(base))
        z.append(0.5 if value is None else (math.log10(value) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))
    return np.asarray(z, dtype=np.float64)


def reservoir_config(params: dict[str, float], config: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters -> the ``reservoir`` section of a baseline config (MultiReservoirEncoder kwargs)."""
    r = config["reservoir"]
    reservoirs = []
    for k in range(r["nb_res"]):
        reservoirs.append(
            {
                "units": r["units"],
                "spectral_radius": params[f"spectral_radius_{k}"],
                "leak_rate": params[f"leak_rate_{k}"],
                "input_scaling": params.get(f"input_scaling_{k}", config["search"]["input_scaling"]),
                "rc_connectivity": r["rc_connectivity"],
                "input_connectivity": r["input_connectivity"],
                "bias_scaling": r["bias_scaling"],
            }
        )
    return {"reservoirs": reservoirs, "use_action": r["use_action"], "use_reward": r["use_reward"], "skip_connection": r["skip_connection"]}


def ppo_config(config: dict[str, Any], env: dict[str, Any], seed: int, total_timesteps: int, reservoir: dict | None) -> dict[str, Any]:
    """A ``run_baseline`` config: PPO with the study's settings on ``env`` (reservoir seed = PPO seed)."""
    return {
        "algorithm": "ppo",
        "env": {"id": env["id"], "kwargs": copy.deepcopy(env["kwargs"])},
        "mask_velocity": env["mask_velocity"],
        "reservoir": copy.deepcopy(reservoir),
        "n_envs": config["ppo"]["n_envs"],
        "total_timesteps": total_timesteps,
        "seed": seed,
        "device": config["device"],
        "algorithm_kwargs": copy.deepcopy(config["ppo"]["algorithm_kwargs"]),
        "threads": config["threads"],
    }


# ---------------------------------------------------------------------------------------------- jobs (in workers)
def _init_worker() -> None:
    torch.set_num_threads(1)  # one PPO per worker process; a run's own `threads` setting still applies


def _score_job(baseline_config: dict[str, Any], last_episodes: int) -> dict[str, Any]:
    """Train one PPO; its score is the mean return of its last ``last_episodes`` episodes (NaN if none)."""
    model, callback = train(resolve_baseline_config(baseline_config))
    model.get_env().close()
    returns = callback.episode_returns[-last_episodes:]
    return {"score": float(np.mean(returns)) if returns else math.nan, "env_steps": int(model.num_timesteps), "episodes": len(callback.episode_returns)}


def _baseline_job(baseline_config: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """One test-protocol run (a full run_baseline directory plus result.json)."""
    summary = run_baseline(baseline_config, run_dir)
    _atomic_write_text(Path(run_dir) / "result.json", json.dumps(summary, indent=2, default=str))
    return summary


def random_policy_score(env: dict[str, Any], episodes: int, seed: int, device=None) -> float:
    """Mean episode return of a uniformly random policy (one episode on each of ``episodes`` rows).

    Args:
        env: an env entry (``id``, ``kwargs``, ``mask_velocity``).
        episodes: number of episodes (batch rows).
        seed: seed of the env and of the actions.
        device: torch device.
    """
    vec = make_torch_env(env["id"], episodes, kwargs={**env["kwargs"], "autoreset_mode": "disabled"}, mask_velocity=env["mask_velocity"], device=device)
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


# ---------------------------------------------------------------------------------------------- file helpers
def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode())


# ---------------------------------------------------------------------------------------------- the study
class Study:
    """The CMA-ES study over reservoir hyper-parameters, resumable from its run directory.

    Args:
        config: a config resolved by :func:`resolve_er_mrl_config`.
        run_dir: the run directory (``study.pkl`` in it is loaded when present).
        executor: a ``ProcessPoolExecutor`` for the PPO runs, or None to run them in this process.
        progress: print one line per generation.
    """

    def __init__(self, config: dict[str, Any], run_dir: Path, executor: ProcessPoolExecutor | None = None, progress: bool = True):
        self.config, self.run_dir, self.executor, self.progress = config, Path(run_dir), executor, progress
        self.path = self.run_dir / "study.pkl"
        if self.path.exists():
            with self.path.open("rb") as f:
                state = pickle.load(f)
            self.es, self.rng_state = state["es"], state["rng_state"]
            self.generation, self.history, self.generations = state["generation"], state["history"], state["generations"]
            self.random_scores, self.env_steps, self.wall_s = state["random_scores"], state["env_steps"], state["wall_s"]
            return
        x0 = encode(config["search"]["x0"] or {}, config)
        # CMA-ES seeds numpy's global generator; keep its state with the study so that a resume asks the same
        saved = np.random.get_state()
        self.es = cma.CMAEvolutionStrategy(
            x0,
            config["search"]["sigma0"],
            {"bounds": [0.0, 1.0], "popsize": config["search"]["popsize"], "seed": config["seed"] + 1, "verbose": -9},
        )
        self.rng_state = np.random.get_state()
        np.random.set_state(saved)
        self.generation, self.history, self.generations = 0, [], []
        self.random_scores = self._random_scores() if len(config["envs"]) > 1 else {}
        self.env_steps, self.wall_s = 0, 0.0

    def _random_scores(self) -> dict[str, float]:
        scores = {}
        for i, env in enumerate(self.config["envs"]):
            if env["random_score"] is not None:
                scores[str(i)] = float(env["random_score"])
            else:
                scores[str(i)] = random_policy_score(env, self.config["fitness"]["random_episodes"], self.config["seed"], self.config["device"])
        return scores

    def _map(self, fn, *iterables) -> list:
        if self.executor is None:
            return list(map(fn, *iterables))
        return list(self.executor.map(fn, *iterables))

    def fitness(self, scores: dict[str, float]) -> float:
        """Per-env mean scores (keyed by env index) -> fitness (normalised and averaged over several envs)."""
        envs = self.config["envs"]
        if len(envs) == 1:
            return scores["0"]
        normalised = []
        for i, env in enumerate(envs):
            random, target = self.random_scores[str(i)], env["target_score"]
            normalised.append((scores[str(i)] - random) / (target - random) if target != random else math.nan)
        return float(np.mean(normalised))

    def run_generation(self) -> dict[str, Any]:
        """Ask, evaluate every candidate on every env and seed, tell, save. Returns the generation's stats."""
        config = self.config
        start = time.perf_counter()
        np.random.set_state(self.rng_state)
        zs = self.es.ask()
        rng_after_ask = np.random.get_state()
        candidates = [decode(z, config) for z in zs]
        jobs = []
        for c, params in enumerate(candidates):
            reservoir = reservoir_config(params, config)
            for e, env in enumerate(config["envs"]):
                for s in range(config["fitness"]["seeds"]):
                    jobs.append(((c, e, s), ppo_config(config, env, config["seed"] + s, config["fitness"]["total_timesteps"], reservoir)))
        results = self._map(_score_job, [cfg for _, cfg in jobs], [config["fitness"]["last_episodes"]] * len(jobs))
        per_candidate: list[dict[str, list[float]]] = [{} for _ in candidates]
        steps = 0
        for ((c, e, _), _), result in zip(jobs, results):
            per_candidate[c].setdefault(str(e), []).append(result["score"])
            steps += result["env_steps"]
        fitnesses = []
        for c, params in enumerate(candidates):
            scores = {e: float(np.mean(v)) for e, v in per_candidate[c].items()}
            fit = self.fitness(scores)
            fitnesses.append(fit)
            self.history.append({"generation": self.generation, "candidate": c, "params": params, "fitness": fit, "scores": scores, "seed_scores": per_candidate[c]})
        # CMA-ES minimises; non-finite fitness (no finished episode) ranks below every finite one
        finite = [f for f in fitnesses if math.isfinite(f)]
        worst = min(finite) if finite else 0.0
        losses = [-f if math.isfinite(f) else -worst + 1e6 for f in fitnesses]
        np.random.set_state(rng_after_ask)
        self.es.tell(zs, losses)
        self.rng_state = np.random.get_state()
        self.env_steps += steps
        self.wall_s += time.perf_counter() - start
        arr = np.array(fitnesses, dtype=np.float64)
        arr = np.where(np.isfinite(arr), arr, np.nan)
        stats = {
            "env_steps": self.env_steps,
            "wall_s": round(self.wall_s, 3),
            "mean": float(np.nanmean(arr)) if finite else math.nan,
            "median": float(np.nanmedian(arr)) if finite else math.nan,
            "best": float(np.nanmax(arr)) if finite else math.nan,
            "worst": float(np.nanmin(arr)) if finite else math.nan,
            "episodes": len(jobs),
            "generation": self.generation,
        }
        self.generations.append(stats)
        self.generation += 1
        self.save()
        if self.progress:
            print(f"[er-mrl] generation {self.generation}/{config['search']['generations']}: best {stats['best']:.4g} "
                  f"mean {stats['mean']:.4g} ({stats['wall_s']:.0f} s, {self.env_steps} env steps)", flush=True)
        return stats

    def best(self) -> dict[str, Any]:
        """The history entry with the highest finite fitness."""
        finite = [h for h in self.history if math.isfinite(h["fitness"])]
        if not finite:
            raise RuntimeError("no candidate finished an episode; raise fitness.total_timesteps")
        return max(finite, key=lambda h: h["fitness"])

    def save(self) -> None:
        """Write study.pkl, history.json, metrics.csv and best.json atomically."""
        state = {
            "es": self.es, "rng_state": self.rng_state, "generation": self.generation, "history": self.history,
            "generations": self.generations, "random_scores": self.random_scores, "env_steps": self.env_steps, "wall_s": self.wall_s,
        }
        _atomic_write_bytes(self.path, pickle.dumps(state))
        _atomic_write_text(self.run_dir / "history.json", json.dumps(self.history, indent=1))
        columns = (*METRICS_COLUMNS, "generation")
        lines = [",".join(columns)] + [",".join(str(g[c]) for c in columns) for g in self.generations]
        _atomic_write_text(self.run_dir / "metrics.csv", "\n".join(lines) + "\n")
        try:
            best = self.best()
            _atomic_write_text(self.run_dir / "best.json", json.dumps({**best, "random_scores": self.random_scores}, indent=2))
        except RuntimeError:
            pass

    def run(self) -> dict[str, Any]:
        """Run the remaining generations (up to ``search.generations``); returns the best entry."""
        while self.generation < self.config["search"]["generations"]:
            self.run_generation()
        return self.best()


# ---------------------------------------------------------------------------------------------- test protocol
def read_curve(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(env_steps, mean return, episodes)`` columns of a run's metrics.csv."""
    with (run_dir / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    return (
        np.array([float(r["env_steps"]) for r in rows]),
        np.array([float(r["mean"]) for r in rows]),
        np.array([float(r["episodes"]) for r in rows]),
    )


def run_test_protocol(config: dict[str, Any], run_dir: Path, best: dict[str, Any], executor=None, progress: bool = True) -> dict[str, Any]:
    """Best reservoirs + PPO against plain PPO on ``test.env`` over ``test.seeds`` seeds; plot and summary.

    Returns:
        The summary also written to test_summary.json: per condition the final returns (mean of each seed's
        last 10 episodes) with mean and std over seeds, the mean return over all training episodes, and
        ``reservoir_beats_ppo`` (final mean of res_ppo > final mean of ppo).
    """
    test = config["test"]
    env = test["env"]
    conditions = {"ppo": None, "res_ppo": reservoir_config(best["params"], config)}
    jobs = []
    for name, reservoir in conditions.items():
        for s in range(test["seeds"]):
            out = run_dir / "test" / name / f"seed_{s}"
            if not (out / "result.json").exists():
                jobs.append((ppo_config(config, env, config["seed"] + 1000 + s, test["total_timesteps"], reservoir), str(out)))
    if progress and jobs:
        print(f"[er-mrl] test protocol: {len(jobs)} PPO runs of {test['total_timesteps']} steps on {env['id']}", flush=True)
    if executor is None:
        for cfg, out in jobs:
            _baseline_job(cfg, out)
    else:
        list(executor.map(_baseline_job, [cfg for cfg, _ in jobs], [out for _, out in jobs]))

    summary: dict[str, Any] = {"env": env, "seeds": test["seeds"], "total_timesteps": test["total_timesteps"], "best_params": best["params"], "conditions": {}}
    curves = {}
    for name in conditions:
        finals, during, seed_curves = [], [], []
        for s in range(test["seeds"]):
            out = run_dir / "test" / name / f"seed_{s}"
            result = json.loads((out / "result.json").read_text())
            finals.append(result["final_mean"])
            steps, means, episodes = read_curve(out)
            during.append(float(np.sum(means * episodes) / np.sum(episodes)) if len(means) else math.nan)
            seed_curves.append((steps, means))
        curves[name] = seed_curves
        summary["conditions"][name] = {
            "final_returns": finals,
            "final_mean": float(np.mean(finals)),
            "final_std": float(np.std(finals)),
            "training_mean": float(np.mean(during)),
        }
    res, ppo = summary["conditions"]["res_ppo"], summary["conditions"]["ppo"]
    summary["reservoir_beats_ppo"] = bool(res["final_mean"] > ppo["final_mean"])
    plot_comparison(curves, test["total_timesteps"], env, run_dir / "comparison.png")
    _atomic_write_text(run_dir / "test_summary.json", json.dumps(summary, indent=2))
    return summary


def plot_comparison(curves: dict[str, list[tuple[np.ndarray, np.ndarray]]], total_timesteps: int, env: dict, path: Path) -> None:
    """Mean ± std (over seeds) episode return against env steps, one line per condition → PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"ppo": "PPO", "res_ppo": "reservoir + PPO (ER-MRL)"}
    grid = np.linspace(0, total_timesteps, 101)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, seed_curves) in enumerate(curves.items()):
        ys = []
        for steps, means in seed_curves:
            if len(steps) == 0:
                continue
            y = np.interp(grid, steps, means)
            y[grid < steps[0]] = np.nan
            ys.append(y)
        if not ys:
            continue
        ys = np.array(ys)
        with np.errstate(all="ignore"), _quiet():
            mean, std = np.nanmean(ys, axis=0), np.nanstd(ys, axis=0)
        ax.plot(grid, mean, color=f"C{i}", label=f"{labels.get(name, name)} ({len(ys)} seeds)")
        ax.fill_between(grid, mean - std, mean + std, color=f"C{i}", alpha=0.25)
    title = env["id"] + (" (velocities masked)" if env.get("mask_velocity") else "")
    ax.set_title(title)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


class _quiet:
    """Silence numpy's 'mean of empty slice' warnings."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


# ---------------------------------------------------------------------------------------------- entry point
RESUME_KEYS = ("envs", "seed", "reservoir", "fitness", "ppo")
"""Config sections that must not change when a study is resumed (generations, workers, threads and test may)."""


def run_er_mrl(config: dict[str, Any], run_dir: str | Path, *, progress: bool = True, test: bool = True) -> dict[str, Any]:
    """The whole ER-MRL experiment: the CMA-ES study, then the test protocol. Resumes a run directory.

    Args:
        config: the loaded YAML (see ``ER_MRL_DEFAULTS`` and examples/configs/er_mrl_cartpole_masked.yaml).
        run_dir: the run directory; an existing study there is continued.
        progress: print a line per generation.
        test: run the test protocol after the study.

    Returns:
        ``{"best": history entry, "generations": ..., "study_wall_s": ..., "test": test summary or None,
        "wall_s": ...}``.

    Raises:
        ValueError: an invalid config, or a run directory holding a study with a different config.
    """
    start = time.perf_counter()
    config = resolve_er_mrl_config(config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    saved_path = run_dir / "config.yaml"
    if (run_dir / "study.pkl").exists() and saved_path.exists():
        import yaml

        saved = yaml.safe_load(saved_path.read_text())
        changed = [k for k in RESUME_KEYS if saved.get(k) != config[k]]
        search_changed = {k for k in config["search"] if k != "generations" and saved["search"].get(k) != config["search"][k]}
        if changed or search_changed:
            raise ConfigError(
                (changed or [f"search.{sorted(search_changed)[0]}"])[0],
                f"differs from the study in {run_dir}; resume with the same config (only search.generations, workers "
                "and test may change) or use a new --run-dir",
            )
    dump_yaml(config, saved_path)

    executor = None
    if config["workers"] > 1:
        executor = ProcessPoolExecutor(config["workers"], mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker)
    try:
        study = Study(config, run_dir, executor, progress)
        best = study.run()
        summary: dict[str, Any] = {"best": best, "generations": study.generation, "study_wall_s": round(study.wall_s, 1), "test": None}
        if test:
            summary["test"] = run_test_protocol(config, run_dir, best, executor, progress)
    finally:
        if executor is not None:
            executor.shutdown()
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    if progress and summary["test"] is not None:
        c = summary["test"]["conditions"]
        print(
            f"[er-mrl] best {best['params']} fitness {best['fitness']:.4g}; test on {config['test']['env']['id']}: "
            f"reservoir+PPO {c['res_ppo']['final_mean']:.1f} ± {c['res_ppo']['final_std']:.1f} vs PPO "
            f"{c['ppo']['final_mean']:.1f} ± {c['ppo']['final_std']:.1f} ({summary['wall_s']:.0f} s)",
            flush=True,
        )
    return summary
