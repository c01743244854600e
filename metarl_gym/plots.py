"""Fitness curves of run directories (``metarl-gym plot`` and the fitness.png a run writes when it ends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_fitness(runs: list[tuple[str, list[dict[str, Any]]]], out: str | Path, *, x: str | None = None, fmt: str | None = None) -> None:
    """Draw best (solid) and mean (dashed) fitness of each run against ``x``.

    Args:
        runs: ``(label, metrics rows)`` pairs (rows as :meth:`metarl_gym.run_dir.RunDir.read_metrics` gives them).
        out: the image file.
        x: the x column (default: ``generation`` if every run has it, else ``env_steps``).
        fmt: image format when ``out`` has no telling suffix (e.g. a temporary file).

    Raises:
        ValueError: a run has no rows, or no column ``x``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for label, rows in runs:
        if not rows:
            raise ValueError(f"{label} has no metrics rows yet")
    x_key = x or ("generation" if all("generation" in rows[0] for _, rows in runs) else "env_steps")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    try:
        for i, (label, rows) in enumerate(runs):
            if x_key not in rows[0]:
                raise ValueError(f"{label} has no column {x_key!r}; use one of {sorted(rows[0])}")
            xs = [_num(r.get(x_key)) for r in rows]
            color = f"C{i}"
            if "best" in rows[0]:
                ax.plot(xs, [_num(r.get("best")) for r in rows], color=color, label=f"{label} best")
            if "mean" in rows[0]:
                ax.plot(xs, [_num(r.get("mean")) for r in rows], color=color, linestyle="--", label=f"{label} mean")
        if x_key in ("generation", "env_steps"):  # counts: no fractional ticks (a 3-generation run showed 0.25, 0.5, ...)
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(x_key.replace("_", " "))
        ax.set_ylabel("return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out, dpi=120, format=fmt)
    finally:
        plt.close(fig)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
