"""Slow learning checks (they run in CI: about a minute each on 2 cores)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "examples"))


@pytest.mark.slow
def test_ga_solves_cartpole_for_at_least_4_of_5_seeds():
    import ga_cartpole

    solved = 0
    for seed in range(5):
        solved += ga_cartpole.main(["--seed", str(seed)]) >= 475
        if solved >= 4:
            break
    assert solved >= 4
