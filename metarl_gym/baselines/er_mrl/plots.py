"""ER-MRL's test-protocol figure: learning curves of the best reservoir + PPO against plain PPO (the study's
fitness.png is the runner's, :func:`metarl_gym.plots.plot_fitness`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

LABELS = {"ppo": "PPO", "res_ppo": "reservoir + PPO (ER-MRL)"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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


__all__ = ["plot_comparison"]
