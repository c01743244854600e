"""ER-MRL's test protocol: the best reservoirs + PPO against plain PPO on the test env, over ``test.seeds`` seeds.

The test env is the first evolution env by default, a held-out one for generalisation. Each (condition, seed)
is one ``"test"`` trial (:func:`~.workers.run_trial`); the study process writes its files into the run
directory, result.json last, so a run whose result.json exists is finished and is kept on resume::

    test/<ppo | res_ppo>/seed_<k>/metrics.csv   env_steps,wall_s,mean,median,best,worst,episodes (training)
    test/<ppo | res_ppo>/seed_<k>/model.zip     the trained SB3 PPO model
    test/<ppo | res_ppo>/seed_<k>/result.json   env_steps, episodes, final_mean (mean of the last 10 episodes)
    comparison.png                              mean ± std return against env steps
    test_summary.json                           final returns per condition; whether the reservoir helped
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import numpy as np

from ...run_dir import RunDir
from .plots import plot_comparison
from .search_space import reservoir_config
from .fitness import finite_or_none
from .workers import MapFn, ppo_config, run_trial

TEST_SEED_OFFSET = 1000
"""Test seeds are ``seed + 1000 + k``: PPO and reservoir draws unseen during the study."""

CURVE_COLUMNS = ("env_steps", "wall_s", "mean", "median", "best", "worst", "episodes")


def _trial_dir(condition: str, seed: int) -> str:
    return f"test/{condition}/seed_{seed}"


def _write_result(run_dir: RunDir, config: dict[str, Any], condition: str, seed: int, result: dict[str, Any]) -> None:
    out = _trial_dir(condition, seed)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CURVE_COLUMNS)
    for row in result["rows"]:
        writer.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in CURVE_COLUMNS])
    run_dir.write_text(f"{out}/metrics.csv", text.getvalue())
    run_dir.write_bytes(f"{out}/model.zip", result["model_zip"])
    summary = {
        "condition": condition,
        "seed": seed,
        "env_id": config["test"]["env"]["id"],
        "env_steps": result["env_steps"],
        "episodes": result["episodes"],
        "final_mean": result["final_mean"],
        "last_row": result["rows"][-1] if result["rows"] else None,
    }
    run_dir.write_json(f"{out}/result.json", finite_or_none(summary))  # last: marks the run finished


def read_curve(run_dir: RunDir, condition: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(env_steps, mean return, episodes)`` columns of one test run's metrics.csv."""
    with run_dir.path(f"{_trial_dir(condition, seed)}/metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    return (
        np.array([float(r["env_steps"]) for r in rows]),
        np.array([float(r["mean"]) for r in rows]),
        np.array([float(r["episodes"]) for r in rows]),
    )


def run_test_protocol(
    config: dict[str, Any],
    run_dir: RunDir,
    best: dict[str, Any],
    map_fn: MapFn,
    *,
    batch: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Best reservoirs + PPO against plain PPO on ``test.env``; writes the runs, the plot and the summary.

    Args:
        config: the resolved config.
        run_dir: the study's run directory (lock held).
        best: the study's best history entry (its ``params``).
        map_fn: how trials run.
        batch: trials handed to ``map_fn`` at a time (the number of parallel workers); finished batches are
            written before the next starts.
        progress: show a progress bar over the test runs.

    Returns:
        The summary written to test_summary.json: per condition the final returns (mean of each seed's last 10
        episodes) with mean and std over seeds, the mean return over all training episodes, and
        ``reservoir_beats_ppo`` (final mean of res_ppo > final mean of ppo).
    """
    from tqdm.auto import tqdm

    test = config["test"]
    env = test["env"]
    conditions = {"ppo": None, "res_ppo": reservoir_config(best["params"], config)}
    pending = []
    for name, reservoir in conditions.items():
        for s in range(test["seeds"]):
            if not run_dir.exists(f"{_trial_dir(name, s)}/result.json"):
                baseline = ppo_config(config, env, config["seed"] + TEST_SEED_OFFSET + s, test["total_timesteps"], reservoir)
                pending.append((name, s, {"kind": "test", "baseline": baseline}))
    total = len(conditions) * test["seeds"]
    with tqdm(total=total, initial=total - len(pending), desc=f"er-mrl test on {env['id']}", unit="run", disable=not progress, dynamic_ncols=True) as bar:
        for i in range(0, len(pending), max(1, batch)):
            chunk = pending[i : i + max(1, batch)]
            results = list(map_fn(run_trial, [spec for _, _, spec in chunk]))
            for (name, s, _), result in zip(chunk, results):
                _write_result(run_dir, config, name, s, result)
            bar.update(len(chunk))

    summary: dict[str, Any] = {"env": env, "seeds": test["seeds"], "total_timesteps": test["total_timesteps"], "best_params": best["params"], "conditions": {}}
    curves = {}
    for name in conditions:
        finals, during, seed_curves = [], [], []
        for s in range(test["seeds"]):
            result = run_dir.read_json(f"{_trial_dir(name, s)}/result.json")
            finals.append(math.nan if result["final_mean"] is None else float(result["final_mean"]))
            steps, means, episodes = read_curve(run_dir, name, s)
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
    with run_dir.atomic_path("comparison.png") as tmp:
        plot_comparison(curves, test["total_timesteps"], env, tmp)
    run_dir.write_json("test_summary.json", finite_or_none(summary))
    return summary


__all__ = ["TEST_SEED_OFFSET", "read_curve", "run_test_protocol"]
