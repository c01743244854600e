"""OpenAI-ES (Salimans et al. 2017) or CMA-ES (Hansen, via `cma`) on the Pendulum-v1 swing-up, batched.

Both strategies share the ask/tell interface; only the constructor differs. The same experiments as
resumable runs:

    metarl-gym evolve examples/configs/openai_es_pendulum.yaml --run-dir runs/es
    metarl-gym evolve examples/configs/cma_es_pendulum.yaml --run-dir runs/cma

Run: python examples/openai_es_pendulum.py [--strategy openai_es|cma_es] [--generations 150]
"""

import argparse
from dataclasses import dataclass

import torch

import metarl_gym  # noqa: F401
from metarl_gym.agents import MLPPolicy
from metarl_gym.envs import make
from metarl_gym.evolution import CMAES, OpenAIES, rollout


@dataclass
class Args:
    strategy: str = "openai_es"
    """openai_es or cma_es"""
    seed: int = 0
    """seed of the strategy and of every evaluation"""
    generations: int = 400
    """generations"""
    episodes: int = 0
    """episodes (random starts) per fitness evaluation (0: 8 for openai_es, 16 for cma_es)"""
    device: str = "cpu"
    """torch device"""


def make_strategy(args: Args, num_params: int):
    if args.strategy == "openai_es":
        return OpenAIES(num_params, pop_size=256, seed=args.seed, device=args.device, sigma=0.1, lr=0.05, optimizer="adam", init_std=0.0)
    if args.strategy == "cma_es":
        return CMAES(num_params, pop_size=64, seed=args.seed, device=args.device, sigma0=1.0, init_std=0.0)
    raise ValueError(f"--strategy must be openai_es or cma_es, got {args.strategy!r}")


def main(args: Args) -> float:
    probe = make("MetaRL/PendulumSwingup-v1", 1)
    hidden = [16] if args.strategy == "openai_es" else [8]
    episodes = args.episodes or (8 if args.strategy == "openai_es" else 16)
    policy = MLPPolicy(probe.single_observation_space, probe.single_action_space, hidden_sizes=hidden, output="tanh")
    strategy = make_strategy(args, policy.num_params)
    env = make("MetaRL/PendulumSwingup-v1", strategy.pop_size * episodes, device=args.device)
    for generation in range(args.generations):
        params = strategy.ask()
        fitness = rollout(env, policy, params, num_episodes=episodes, seed=args.seed * 1000 + generation)
        metrics = strategy.tell(params, fitness)
        if generation % 10 == 0 or generation == args.generations - 1:
            print(f"generation {generation:3d}  best {metrics['best']:8.1f}  mean {metrics['mean']:8.1f}")

    test_env = make("MetaRL/PendulumSwingup-v1", 20, device=args.device)
    # The solution of a distribution strategy is its mean, not the luckiest candidate of one generation.
    returns = rollout(test_env, policy, strategy.center.expand(20, -1), seed=12345)
    print(f"search distribution mean: return {returns.mean():.1f} over 20 random starts")
    return float(returns.mean())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in vars(Args()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    torch.set_num_threads(2)
    main(Args(**vars(parser.parse_args())))
