"""ER-MRL figures: the study's fitness per generation, and the test protocol's learning curves."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

LABELS = {"ppo": "PPO", "res_ppo": "reservoir + PPO (ER-MRL)"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_fitness(rows: list[dict[str, Any]], path: str | Path, title: str = "ER-MRL study") -> None:
    """Best / mean / worst candidate fitness and the best so far against the generation -> PNG at ``path``.

    Args:
        rows: metrics.csv rows (``generation``, ``best``, ``mean``, ``worst``, ``best_ever``).
        path: the image file (written as given; the caller makes it atomic).
        title: the plot title.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    gen = np.array([r["generation"] for r in rows], dtype=float)
    col = lambda key: np.array([np.nan if r.get(key) is None else r[key] for r in rows], dtype=float)  # noqa: E731
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.fill_between(gen, col("worst"), col("best"), color="C0", alpha=0.2, label="worst … best candidate")
    ax.plot(gen, col("mean"), color="C0", label="mean candidate")
    ax.plot(gen, col("best_ever"), color="C1", linestyle="--", label="best so far")
    ax.set_title(title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (PPO return of the last episodes)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def plot_comparison(curves: dict[str, list[tuple[np.ndarray, np.ndarray]]], total_timesteps: int, env: dict, path: str | Path) -> None:
    """Mean ± std (over seeds) episode return against env steps, one line per condition -> PNG at ``path``.

    Args:
        curves: condition -> per seed ``(env_steps [T], mean return [T])``.
        total_timesteps: the x range.
        env: the test env entry (for the title).
        path: the image file.
    """
    plt = _pyplot()
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
        with warnings.catch_warnings():  # all-NaN columns before the first finished episode
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, std = np.nanmean(ys, axis=0), np.nanstd(ys, axis=0)
        ax.plot(grid, mean, color=f"C{i}", label=f"{LABELS.get(name, name)} ({len(ys)} seeds)")
        ax.fill_between(grid, mean - std, mean + std, color=f"C{i}", alpha=0.25)
    ax.set_title(env["id"] + (" (velocities masked)" if env.get("mask_velocity") else ""))
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


__all__ = ["plot_comparison", "plot_fitness"]
