"""The summary's "best fitness F (generation G)" names the first generation that reached F, not the last one that
tied it (issue 19: "best fitness 500 (generation 19)" on a run at 500 from generation 3 on)."""

from __future__ import annotations

import csv

from metarl_gym.evolution.runner import evolve


def test_best_generation_is_the_first_at_the_best(tmp_path):
    config = {
        "env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 15}},  # 15 is reached early, then tied
        "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4]}},
        "strategy": {"name": "ga", "pop_size": 16, "kwargs": {"num_survivors": 4, "elitism": 2}},
        "generations": 6,
        "seed": 0,
    }
    summary = evolve(config, tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "metrics.csv") as f:
        best = [float(row["best"]) for row in csv.DictReader(f)]
    assert summary["best_fitness"] == max(best) == 15.0
    first = best.index(max(best))
    assert best.count(max(best)) >= 2, "the run must tie its best to test this"
    assert summary["best_generation"] == first
