"""Batched env-steps/s of every torch-batched MetaRL env with random actions, at N = 1,000 and 100,000.

Prints one line per env and size in the anchors' format: ``<env id> N=<n> env_steps_per_s=<float>``.
Usage: python benchmarks/env_throughput.py [--sizes 1000 100000] [--steps 200] [--device cpu]
"""

import argparse
import time

import gymnasium as gym
import torch

import metarl_gym  # noqa: F401
from metarl_gym.envs import TORCH_ENVS


def random_actions(env, steps: int, generator: torch.Generator) -> torch.Tensor:
    space = env.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        return torch.randint(0, int(space.n), (steps, env.num_envs), generator=generator).to(env.unwrapped.device)
    low, high = float(space.low.min()), float(space.high.max())
    return (low + (high - low) * torch.rand(steps, env.num_envs, *space.shape, generator=generator)).to(env.unwrapped.device)


def measure(env_id: str, n: int, steps: int, device: str, repeats: int = 3) -> float:
    env = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", device=device)
    actions = random_actions(env, steps, torch.Generator().manual_seed(0))
    env.reset(seed=0)
    best = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for a in actions:
            env.step(a)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return n * steps / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for env_id in sorted(TORCH_ENVS):
        for n in args.sizes:
            print(f"{env_id} N={n} env_steps_per_s={measure(env_id, n, args.steps, args.device):.0f}", flush=True)


if __name__ == "__main__":
    main()
