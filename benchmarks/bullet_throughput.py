"""Throughput of the pybullet locomotion envs: the N-client vector env against Gymnasium's AsyncVectorEnv.

For each vectorisation mode and each N, makes ``gym.make_vec(env_id, N, vectorization_mode=mode)``, resets it,
steps it with uniform random actions (a few warm-up steps first) and prints one line per run::

    MetaRL/AntBullet-v0 mode=vector_entry_point N=8 env_steps_per_s=1834.2

``env_steps_per_s`` = N × steps / wall seconds (resets on episode ends included). ``vector_entry_point`` is the
torch-batched env running N pybullet DIRECT clients in this process; ``async`` runs one process per env.

Usage:
    python benchmarks/bullet_throughput.py [--env-id MetaRL/AntBullet-v0] [--ns 1 8 64]
        [--modes vector_entry_point async] [--env-steps 4000]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

import metarl_gym  # noqa: F401  (registers the ids)


def throughput(env_id: str, mode: str, num_envs: int, env_steps: int, seed: int = 0) -> float:
    """Env-steps per second of ``make_vec(env_id, num_envs, vectorization_mode=mode)`` under random actions."""
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode)
    try:
        rng = np.random.default_rng(seed)
        envs.reset(seed=seed)
        low, high = envs.single_action_space.low, envs.single_action_space.high
        steps = max(20, env_steps // num_envs)
        actions = rng.uniform(low, high, size=(steps + 5, num_envs, *low.shape)).astype(np.float32)
        if mode == "vector_entry_point":
            actions = torch.as_tensor(actions)
        for t in range(5):  # warm-up: first contacts, worker start-up
            envs.step(actions[t])
        start = time.perf_counter()
        for t in range(5, steps + 5):
            envs.step(actions[t])
        return num_envs * steps / (time.perf_counter() - start)
    finally:
        envs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="MetaRL/AntBullet-v0")
    parser.add_argument("--ns", type=int, nargs="+", default=[1, 8, 64], help="numbers of envs N")
    parser.add_argument("--modes", nargs="+", default=["vector_entry_point", "async"], help="vectorization modes")
    parser.add_argument("--env-steps", type=int, default=4000, help="env steps timed per run (N x steps)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for mode in args.modes:
        for n in args.ns:
            rate = throughput(args.env_id, mode, n, args.env_steps)
            print(f"{args.env_id} mode={mode} N={n} env_steps_per_s={rate:.1f}", flush=True)


if __name__ == "__main__":
    main()
