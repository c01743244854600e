"""The ga-openai-gym CartPole experiment, batched: a GA evolves the weights of a small MLP.

The generation loop in ten lines: ask the GA for a population, play it, tell the GA the fitness. The whole
population (100 individuals x 5 episodes) is one torch batch of 500 CartPoles stepped together. Individual j of
generation g is keyed (seed, g, j) exactly as ``metarl-gym evolve`` keys it, so this loop prints the same
generations as the resumable run with a progress bar, metrics.csv and checkpoints:

    metarl-gym evolve examples/configs/ga_cartpole.yaml --run-dir runs/ga_cartpole

Run: python examples/ga_cartpole.py [--seed 0] [--generations 20] [--pop-size 100]
"""

import argparse

import torch

import metarl_gym  # noqa: F401  (registers the MetaRL/* ids)
from metarl_gym.agents import MLPPolicy
from metarl_gym.envs import make
from metarl_gym.evolution import GA, rollout
from metarl_gym.evolution.evaluate import generation_keys


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the GA and of every evaluation")
    parser.add_argument("--pop-size", type=int, default=100, help="individuals per generation (the seed's 100)")
    parser.add_argument("--generations", type=int, default=20, help="generations (the seed's 20)")
    parser.add_argument("--episodes", type=int, default=5, help="episodes per fitness evaluation (mean return)")
    parser.add_argument("--test-episodes", type=int, default=10, help="fresh episodes the best individual plays at the end")
    parser.add_argument("--device", default="cpu", help="torch device of the envs, the population and the policy")
    args = parser.parse_args(argv)

    env = make("MetaRL/CartPole-v1", args.pop_size * args.episodes, device=args.device)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[8], activation="tanh")
    strategy = GA(
        policy.num_params, pop_size=args.pop_size, seed=args.seed, device=args.device, init_std=1.0,
        selection="roulette", crossover="one_point", crossover_prob=0.9,  # the seed's operators
        mutation_prob=0.05, mutation_std=0.5, big_mutation_prob=0.4, elitism=2,
    )
    for generation in range(args.generations):
        params = strategy.ask()                                                     # [pop, num_params]
        keys = generation_keys(args.seed, generation, 0, args.pop_size, args.device)  # individual j: (seed, g, j)
        fitness = rollout(env, policy, params, num_episodes=args.episodes, seed=keys)  # [pop] mean returns
        metrics = strategy.tell(params, fitness)
        print(f"generation {generation:2d}  best {metrics['best']:6.1f}  mean {metrics['mean']:6.1f}")

    # The best individual on fresh episodes (evaluation seed 12345: keys the run never used).
    test_env = make("MetaRL/CartPole-v1", args.test_episodes, device=args.device)
    returns = rollout(test_env, policy, strategy.best_params.expand(args.test_episodes, -1), seed=12345)
    print(f"best individual: mean return {returns.mean():.1f} over {args.test_episodes} new episodes")
    return float(returns.mean())


if __name__ == "__main__":
    torch.set_num_threads(1)  # small batches: one thread is fastest (and cannot stall on a busy machine)
    main()
