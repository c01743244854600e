"""fitness.png / `metarl-gym plot`: the x axis of counts (generation, env_steps) has whole-number ticks."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from metarl_gym.plots import plot_fitness  # noqa: E402


@pytest.mark.parametrize("x, values", [("generation", [0, 1, 2]), ("env_steps", [10, 11, 12]), ("wall_s", [0.1, 0.2, 0.35])])
def test_count_axes_have_whole_ticks(tmp_path, monkeypatch, x, values):
    seen = {}
    save = Figure.savefig

    def spy(self, *args, **kwargs):
        ax = self.axes[0]
        low, high = ax.get_xlim()
        seen["ticks"] = [t for t in ax.get_xticks() if low <= t <= high]
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    rows = [{"generation": str(g), "env_steps": str(s), "wall_s": str(w), "best": str(10 * g), "mean": str(5 * g)}
            for g, s, w in zip([0, 1, 2], [10, 11, 12], [0.1, 0.2, 0.35])]
    plot_fitness([("run", rows)], tmp_path / "f.png", x=x)
    assert (tmp_path / "f.png").stat().st_size > 0 and len(seen["ticks"]) >= 2
    whole = all(float(t).is_integer() for t in seen["ticks"])
    assert whole if x != "wall_s" else not whole, seen["ticks"]
