"""The ga-openai-gym CartPole experiment, batched: a GA evolves the weights of a small MLP.

The whole population (100 individuals x 5 episodes) is one torch batch of 500 CartPoles stepped together.
The same experiment as a resumable run with a progress bar, metrics.csv and checkpoints:

    metarl-gym evolve examples/configs/ga_cartpole.yaml --run-dir runs/ga_cartpole

Run: python examples/ga_cartpole.py [--seed 0]
"""

import argparse
from dataclasses import dataclass

import torch

import metarl_gym  # noqa: F401  (registers the MetaRL/* ids)
from metarl_gym.agents import MLPPolicy
from metarl_gym.envs import make
from metarl_gym.evolution import GA, rollout


@dataclass
class Args:
    seed: int = 0
    """seed of the GA and of every evaluation"""
    pop_size: int = 100
    """individuals per generation (the seed's pop 100)"""
    generations: int = 20
    """generations (the seed's 20)"""
    episodes: int = 5
    """episodes per fitness evaluation (mean return)"""
    device: str = "cpu"
    """torch device of the envs, the population and the policy"""


def main(args: Args) -> float:
    env = make("MetaRL/CartPole-v1", args.pop_size * args.episodes, device=args.device)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[8], activation="tanh")
    strategy = GA(
        policy.num_params, pop_size=args.pop_size, seed=args.seed, device=args.device,
        selection="roulette", crossover="one_point", crossover_prob=0.9,  # the seed's operators
        mutation_prob=0.05, mutation_std=0.5, big_mutation_prob=0.4, elitism=2,
    )
    for generation in range(args.generations):
        params = strategy.ask()                                            # [pop, num_params]
        fitness = rollout(env, policy, params, num_episodes=args.episodes, seed=args.seed * 1000 + generation)
        metrics = strategy.tell(params, fitness)
        print(f"generation {generation:2d}  best {metrics['best']:6.1f}  mean {metrics['mean']:6.1f}")

    # The best individual on 10 fresh episodes.
    test_env = make("MetaRL/CartPole-v1", 10, device=args.device)
    returns = rollout(test_env, policy, strategy.best_params.expand(10, -1), seed=12345)
    print(f"best individual: mean return {returns.mean():.1f} over 10 new episodes")
    return float(returns.mean())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in vars(Args()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    torch.set_num_threads(2)
    main(Args(**vars(parser.parse_args())))
