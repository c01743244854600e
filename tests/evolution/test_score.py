"""evaluate.score: fresh lifetimes keyed key(seed, j), of one genome or of one genome per lifetime."""

import pytest
import torch

import metarl_gym  # noqa: F401
from metarl_gym.config import resolve_evolve_config
from metarl_gym.errors import UserError
from metarl_gym.evolution import evaluate
from metarl_gym.evolution.evaluate import Evaluator, score
from metarl_gym.keys import key

CONFIG = {"env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 60}}, "policy": {"name": "hebbian"},
          "strategy": {"name": "openai_es", "pop_size": 4}, "episodes": 2, "seed": 0}


@pytest.fixture(scope="module")
def config():
    return resolve_evolve_config(CONFIG)


@pytest.fixture(scope="module")
def genomes(config):
    evaluator = Evaluator(config)
    d = evaluator.policy.num_params
    evaluator.close()
    return torch.randn(5, d, generator=torch.Generator().manual_seed(0))


def test_one_genome_per_lifetime_is_each_genome_on_lifetime_j(config, genomes):
    per_lifetime = score(config, genomes, 5, seed=9)
    evaluator = Evaluator(config)
    fitness, _ = evaluator.evaluate(genomes, key(9, torch.arange(5)))
    evaluator.close()
    assert per_lifetime.dtype == torch.float64 and torch.equal(per_lifetime, fitness.double())
    # lifetime 3 of genome 3 alone is the same lifetime as in the batch: score(genome 3) on 5 lifetimes, entry 3
    assert per_lifetime[3] == score(config, genomes[3], 5, seed=9)[3]


def test_one_genome_equals_it_repeated_and_slices_do_not_matter(config, genomes, monkeypatch):
    one = score(config, genomes[0], 5, seed=4)
    assert torch.equal(one, score(config, genomes[0].expand(5, -1), 5, seed=4))
    assert torch.equal(one, score(config, genomes[:1], 5, seed=4))
    monkeypatch.setattr(evaluate, "SCORE_SLICE", 2)
    assert torch.equal(one, score(config, genomes[0], 5, seed=4))
    assert not torch.equal(one, score(config, genomes[0], 5, seed=5))


@pytest.mark.parametrize("shape", [(3, None), (1, 1, None)])
def test_other_shapes_are_refused(config, genomes, shape):
    params = genomes[0].expand(*[s or genomes.shape[1] for s in shape])
    with pytest.raises(UserError, match=r"one genome \[D\] / \[1, D\] or one per lifetime \[5, D\]"):
        score(config, params, 5, seed=0)


def test_a_reservoir_without_a_seed_is_the_same_in_every_env_batch_of_a_run():
    """Regression: ``env.reservoir`` without ``seed`` drew new random matrices in every env batch (each Ray worker,
    each slice, the later ``evaluate``), so one genome scored differently in each. It now takes the run seed."""
    reservoir_config = resolve_evolve_config({**CONFIG, "policy": {"name": "mlp"}, "seed": 3,
                                              "env": {**CONFIG["env"], "reservoir": {"units": 12, "leak_rate": 0.5}}})
    envs = [evaluate.build_env(reservoir_config, 2) for _ in range(2)]
    first = [env.reset(seed=0)[0] for env in envs]
    assert first[0].shape == (2, 12) and torch.equal(first[0], first[1])
    evaluator = Evaluator(reservoir_config)
    genome = torch.randn(1, evaluator.policy.num_params, generator=torch.Generator().manual_seed(1))
    evaluator.close()
    assert torch.equal(score(reservoir_config, genome, 3, seed=5), score(reservoir_config, genome, 3, seed=5))
    other_run = evaluate.build_env({**reservoir_config, "seed": 4}, 2).reset(seed=0)[0]
    assert not torch.equal(other_run, first[0])  # the run seed does decide the matrices
