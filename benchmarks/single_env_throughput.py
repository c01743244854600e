"""Steps/s of ``gym.make`` single envs: ours beside Gymnasium's own numpy CartPole-v1 / Pendulum-v1, one process.

Each env runs the same loop a Gymnasium user writes (``step`` with pre-drawn valid actions, ``reset`` when an
episode ends; the full ``gym.make`` wrapper stack), alternating ours and theirs ``--repeats`` times so machine
noise hits both; the best repeat counts. Prints one line per env and, for the Gymnasium twins, the ratio
``theirs / ours`` (the target is <= 2). ``torch_one_row`` is the same env stepped as a one-row torch batch (what
``gym.make`` did before the numpy-row path; kept for envs without ``dynamics``), for the before/after factor.

Usage: python benchmarks/single_env_throughput.py [--steps 20000] [--repeats 5]
"""

import argparse
import time

import gymnasium as gym
import torch

import metarl_gym  # noqa: F401

PAIRS = [
    ("MetaRL/CartPole-v1", "CartPole-v1"),
    ("MetaRL/PendulumSwingup-v1", "Pendulum-v1"),
    ("MetaRL/Pendulum-v0", None),
    ("MetaRL/DoublePendulum-v0", None),
]


def steps_per_s(env_id: str, steps: int, torch_one_row: bool = False) -> float:
    """Steps/s of one ``gym.make(env_id)`` over ``steps`` steps (resets included, as users see them)."""
    env = gym.make(env_id)
    if torch_one_row:
        env.unwrapped._row_path = False  # benchmark-only switch to the one-row torch batch
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(1000)]
    start = time.perf_counter()
    for i in range(steps):
        _, _, terminated, truncated, _ = env.step(actions[i % 1000])
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for ours_id, theirs_id in PAIRS:
        ours = theirs = torch_row = 0.0
        for _ in range(args.repeats):
            ours = max(ours, steps_per_s(ours_id, args.steps))
            torch_row = max(torch_row, steps_per_s(ours_id, args.steps // 5, torch_one_row=True))
            if theirs_id is not None:
                theirs = max(theirs, steps_per_s(theirs_id, args.steps))
        line = f"{ours_id} steps_per_s={ours:.0f}  torch_one_row={torch_row:.0f}"
        if theirs_id is not None:
            line += f"  gymnasium {theirs_id} steps_per_s={theirs:.0f}  ratio_theirs_over_ours={theirs / ours:.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
