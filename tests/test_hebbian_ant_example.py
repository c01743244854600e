"""examples/hebbian_ant.py and the config option it runs on: ``env.morphologies`` (one lifetime per (individual,
morphology), each from fresh random weights, fitness the mean over them).

The seed (``fitness_functions.fitness_hebb``) draws new U(-0.1, 0.1) weights at the start of every evaluation,
and the paper scores each morphology by such an evaluation: a lifetime of two episodes (the standard Ant, then the
damaged one) would start the damaged episode from weights already adapted on the standard body.
"""

import csv
from pathlib import Path

import pytest
import torch

from metarl_gym.agents import HebbianPolicy
from metarl_gym.config import apply_overrides, load_yaml, resolve_evolve_config
from metarl_gym.evolution.evaluate import Evaluator, per_morphology
from helpers import load_example, lifetime_keys

CONFIG = Path(__file__).parent.parent / "examples" / "configs" / "hebbian_ant.yaml"
STEPS = 4  # per episode
TINY = ["strategy.pop_size=2", "policy.kwargs.hidden_sizes=[8]", f"env.kwargs.max_episode_steps={STEPS}"]


@pytest.fixture()
def example():
    return load_example("hebbian_ant")


@pytest.fixture()
def config():
    return resolve_evolve_config(apply_overrides(load_yaml(CONFIG), [*TINY, "rollout.early_stop=null"]))


class RecordingHebbian(HebbianPolicy):
    """Records the plastic weights ``[rows, in, out]`` per layer that every act() call starts from."""

    def initial_state(self, params, keys=None):
        state = super().initial_state(params, keys)
        self.drawn = [w.clone() for w in state["weights"]]
        self.seen = []
        return state

    def act(self, params, obs, state):
        self.seen.append([w.clone() for w in state["weights"]])
        return super().act(params, obs, state)


def equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_script_trains_on_two_morphologies_and_scores_three(example, tmp_path, capsys):
    run_dir = tmp_path / "ant"
    results = example.main(["--run-dir", str(run_dir), "--eval-lifetimes", "2", "generations=2", *TINY,
                            "env.kwargs.max_episode_steps=10"])
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    for row in rows:  # the population's mean fitness is the mean of its two morphology means
        both = (float(row["mean_standard"]) + float(row["mean_damaged_right"])) / 2
        assert float(row["mean"]) == pytest.approx(both, rel=1e-5, abs=1e-5)
        assert float(row["best"]) <= max(float(row["best_standard"]), float(row["best_damaged_right"])) + 1e-5
    assert set(results) == {"standard", "damaged_right", "damaged_left"}
    for row in results.values():
        for values in row.values():
            assert values.shape == (2,) and bool(torch.isfinite(values).all())
    # the held-out body is really another body: same lifetimes (keys), other returns
    assert not torch.equal(results["standard"]["evolved_metres"], results["damaged_left"]["evolved_metres"])
    out = capsys.readouterr().out
    assert "damaged_left   (held out)" in out and "random rules" in out


def test_every_morphology_lifetime_starts_from_fresh_weights(config):
    evaluator = Evaluator(config)
    assert evaluator.copies == 2  # plastic: one row per (individual, morphology)
    env = evaluator.env_for(2)
    assert env.morphologies == ["standard", "damaged_right"] * 2  # row 2 i + m: individual i on morphology m
    policy = evaluator.policy = RecordingHebbian(env.single_observation_space, env.single_action_space, **config["policy"]["kwargs"])
    params = torch.randn(2, policy.num_params, generator=torch.Generator().manual_seed(0))
    _, stats = evaluator.evaluate(params, lifetime_keys(3, params))
    evaluator.close()
    assert stats["episode_returns"].shape == (2, 2)
    assert len(policy.seen) >= STEPS
    start, end = policy.seen[0], policy.seen[STEPS - 1]
    # every row, the damaged ones included, starts from the weights initial_state drew, U(-0.1, 0.1)
    assert equal(start, policy.drawn)
    assert all(float(w.abs().max()) <= 0.1 for w in start)
    for i in range(2):
        standard, damaged = 2 * i, 2 * i + 1
        # the damaged lifetime does not start from the standard lifetime's adapted weights, nor from its draw
        assert not any(torch.equal(s[damaged], e[standard]) for s, e in zip(start, end))
        assert not any(torch.equal(s[damaged], s[standard]) for s in start)
        assert not equal([w[standard] for w in start], [w[standard] for w in end])  # the rules did change them


def test_a_morphology_lifetime_does_not_depend_on_the_other_morphologies(config):
    """[standard, damaged_right] and [standard, damaged_left]: the standard lifetimes are the same, the second differ;
    fitness is the mean of the two per-morphology returns."""
    returns = {}
    for other in ("damaged_right", "damaged_left"):
        evaluator = Evaluator(apply_overrides(config, [f"env.morphologies=[standard, {other}]"]))
        params = torch.randn(2, evaluator.policy.num_params, generator=torch.Generator().manual_seed(1))
        fitness, stats = evaluator.evaluate(params, lifetime_keys(5, params))
        evaluator.close()
        split = per_morphology(evaluator.config, stats["episode_returns"])
        assert list(split) == ["standard", other]
        assert torch.allclose(fitness.double(), (split["standard"] + split[other]) / 2, atol=1e-5)
        returns[other] = split
    assert torch.equal(returns["damaged_right"]["standard"], returns["damaged_left"]["standard"])
    assert not torch.equal(returns["damaged_right"]["damaged_right"], returns["damaged_left"]["damaged_left"])
