"""OpenAI-ES (Salimans et al. 2017) or CMA-ES (Hansen, via `cma`) on the Pendulum-v1 swing-up, batched.

Both strategies share the ask/tell interface; only the constructor differs. Individual j of generation g is keyed
(seed, g, j) as ``metarl-gym evolve`` keys it, so this loop prints the same generations as the resumable runs:

    metarl-gym evolve examples/configs/openai_es_pendulum.yaml --run-dir runs/es
    metarl-gym evolve examples/configs/cma_es_pendulum.yaml --run-dir runs/cma

Run: python examples/openai_es_pendulum.py [--strategy openai_es|cma_es] [--generations 400]
"""

import argparse

import torch

import metarl_gym  # noqa: F401  (registers the MetaRL/* ids)
from metarl_gym.agents import MLPPolicy
from metarl_gym.envs import make
from metarl_gym.evolution import CMAES, OpenAIES, rollout
from metarl_gym.evolution.evaluate import generation_keys


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", choices=["openai_es", "cma_es"], default="openai_es")
    parser.add_argument("--seed", type=int, default=0, help="seed of the strategy and of every evaluation")
    parser.add_argument("--generations", type=int, default=400)
    parser.add_argument("--pop-size", type=int, default=0, help="0: 256 for openai_es, 64 for cma_es")
    parser.add_argument("--episodes", type=int, default=0, help="random starts per fitness evaluation (0: 8 for openai_es, 16 for cma_es)")
    parser.add_argument("--test-episodes", type=int, default=20, help="fresh random starts the solution plays at the end")
    parser.add_argument("--device", default="cpu", help="torch device")
    args = parser.parse_args(argv)

    probe = make("MetaRL/PendulumSwingup-v1", 1)
    if args.strategy == "openai_es":  # the settings of examples/configs/openai_es_pendulum.yaml
        policy = MLPPolicy(probe.single_observation_space, probe.single_action_space, hidden_sizes=[16], output="tanh")
        strategy = OpenAIES(policy.num_params, pop_size=args.pop_size or 256, seed=args.seed, device=args.device,
                            sigma=0.1, lr=0.05, optimizer="adam", init_std=0.0)
        episodes = args.episodes or 8
    else:  # examples/configs/cma_es_pendulum.yaml
        policy = MLPPolicy(probe.single_observation_space, probe.single_action_space, hidden_sizes=[8], output="tanh")
        strategy = CMAES(policy.num_params, pop_size=args.pop_size or 64, seed=args.seed, device=args.device,
                         sigma0=1.0, init_std=0.0)
        episodes = args.episodes or 16
    probe.close()

    env = make("MetaRL/PendulumSwingup-v1", strategy.pop_size * episodes, device=args.device)
    for generation in range(args.generations):
        params = strategy.ask()                                                          # [pop, num_params]
        keys = generation_keys(args.seed, generation, 0, strategy.pop_size, args.device)  # individual j: (seed, g, j)
        fitness = rollout(env, policy, params, num_episodes=episodes, seed=keys)          # [pop] mean returns
        metrics = strategy.tell(params, fitness)
        if generation % 10 == 0 or generation == args.generations - 1:
            print(f"generation {generation:3d}  best {metrics['best']:8.1f}  mean {metrics['mean']:8.1f}")

    # The solution of a distribution strategy is its mean, not the luckiest candidate of one generation.
    test_env = make("MetaRL/PendulumSwingup-v1", args.test_episodes, device=args.device)
    returns = rollout(test_env, policy, strategy.center.expand(args.test_episodes, -1), seed=12345)
    print(f"search distribution mean: return {returns.mean():.1f} over {args.test_episodes} random starts")
    return float(returns.mean())


if __name__ == "__main__":
    torch.set_num_threads(1)  # small batches: one thread is fastest (and cannot stall on a busy machine)
    main()
