"""examples/hebbian_ant.py: every (individual, morphology) is a lifetime of its own, from fresh random weights.

The seed (``fitness_functions.fitness_hebb``) draws new U(-0.1, 0.1) weights at the start of every evaluation,
and the paper scores each morphology by such an evaluation. A lifetime of two episodes (the standard Ant, then the
damaged one) would start the damaged episode from weights already adapted on the standard body.
"""

import importlib.util
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from metarl_gym.agents.hebbian import HebbianPolicy
from metarl_gym.evolution.rollout import rollout
from helpers import lifetime_keys

EXAMPLE = Path(__file__).parent.parent / "examples" / "hebbian_ant.py"
MORPHOLOGIES = ["standard", "damaged_right"]
STEPS = 4  # per episode


def load_example():
    spec = importlib.util.spec_from_file_location("hebbian_ant_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


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


@pytest.fixture(scope="module")
def example():
    return load_example()


@pytest.fixture()
def config(example):
    args = example.Args(pop_size=2, max_episode_steps=STEPS, generations=1)
    config = example.load_config(args)
    config["policy"]["kwargs"]["hidden_sizes"] = [8]  # small and fast; the layout is what matters
    config["rollout"]["early_stop"] = None
    return config


def make_policy(env, config):
    return RecordingHebbian(env.single_observation_space, env.single_action_space, **config["policy"]["kwargs"])


def equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_damaged_morphology_lifetime_starts_from_fresh_weights(example, config):
    env = example.training_env(config, MORPHOLOGIES)
    pop = config["strategy"]["pop_size"]
    assert env.morphologies == MORPHOLOGIES * pop  # row i*M + m: individual i on morphology m
    policy = make_policy(env, config)
    params = torch.randn(pop, policy.num_params, generator=torch.Generator().manual_seed(0))
    rollout(env, policy, params, num_episodes=len(MORPHOLOGIES), seed=3)
    env.close()
    # one episode per row: the morphologies are played side by side (an engine may step finished rows on)
    assert len(policy.seen) >= STEPS
    start, end = policy.seen[0], policy.seen[STEPS - 1]
    # every row, the damaged ones included, starts from the weights initial_state drew, U(-0.1, 0.1)
    assert equal(start, policy.drawn)
    assert all(float(w.abs().max()) <= 0.1 for w in start)
    for i in range(pop):
        standard, damaged = 2 * i, 2 * i + 1
        # the damaged lifetime does not start from the standard lifetime's adapted weights, nor from its draw
        assert not any(torch.equal(s[damaged], e[standard]) for s, e in zip(start, end))
        assert not any(torch.equal(s[damaged], s[standard]) for s in start)
        assert not equal([w[standard] for w in start], [w[standard] for w in end])  # the rules did change them


def test_one_lifetime_of_two_episodes_would_carry_adapted_weights(example, config):
    """The layout the example replaces: one row per individual, the damaged episode second in its lifetime."""
    pop = config["strategy"]["pop_size"]
    kwargs = {k: v for k, v in config["env"]["kwargs"].items() if k != "morphology"}
    env = gym.make_vec(config["env"]["id"], num_envs=pop, morphology_cycle=MORPHOLOGIES, **kwargs)
    policy = make_policy(env, config)
    params = torch.randn(pop, policy.num_params, generator=torch.Generator().manual_seed(0))
    rollout(env, policy, params, num_episodes=2, seed=3)
    env.close()
    assert len(policy.seen) >= 2 * STEPS
    second_episode_start = policy.seen[STEPS]  # row 0's damaged episode (row 0 plays standard first)
    assert not any(torch.equal(a[0], b[0]) for a, b in zip(second_episode_start, policy.drawn))


def test_training_fitness_is_the_mean_over_the_morphology_lifetimes(example, config):
    env = example.training_env(config, MORPHOLOGIES)
    pop = config["strategy"]["pop_size"]
    policy = make_policy(env, config)
    params = torch.randn(pop, policy.num_params, generator=torch.Generator().manual_seed(1))
    fitness = rollout(env, policy, params, num_episodes=2, seed=5)
    env.close()
    # reference: each (individual, morphology) alone, its row's weights drawn as in the batched run
    single = example.make_env(config, MORPHOLOGIES * pop)
    rows = rollout(single, policy, params.repeat_interleave(2, dim=0), num_episodes=1, seed=5)
    single.close()
    assert torch.allclose(fitness, rows.view(pop, 2).mean(dim=1), atol=1e-5)
