"""MetaRL/CarRacing-v0 (the torch twin) against Gymnasium's CarRacing-v3, in one run: frames per second.

    flock /tmp/bench.lock python benchmarks/carracing_throughput.py [--threads 2] [--sizes 1 64 256 1024]

Prints, all measured in this one process (ratios are robust to a busy machine; absolute figures are not):

- ``CarRacing-v3``: Gymnasium's env, one instance (Box2D + pygame drawing 1000x800 and shrinking it), steps/s,
  timed before and after the twin (the mean is the anchor);
- ``AsyncVectorEnv``: Gymnasium's AsyncVectorEnv of CarRacing-v3 with ``--async-envs`` worker processes;
- the twin's ``env.step`` (physics, contacts, rewards, 96x96 frames) at each N, eager and with
  ``compile=True`` (torch.compile of transition and observe; compilation time printed, not timed);
- the rollout end to end (env + CNN policy, ``rollout`` with its default engine) for the two pixel policies
  (``cnn`` preset ga_carracing, ``pixel_hebbian`` ABCD_lr) at ``--rollout-pop`` individuals, in frames per second.

Every figure is frames (env steps of one row) per second of wall time with ``torch.set_num_threads(threads)``.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

import metarl_gym  # noqa: F401  (registers MetaRL/CarRacing-v0)
from metarl_gym.agents import CNNPolicy, PixelHebbianPolicy
from metarl_gym.envs.carracing import CarRacing
from metarl_gym.evolution.rollout import rollout


def carracing_v3(steps: int) -> float:
    env = gym.make("CarRacing-v3")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(rng.uniform([-1, 0, 0], [1, 1, 0.2]).astype(np.float32))
        if term or trunc:
            env.reset()
    fps = steps / (time.perf_counter() - start)
    env.close()
    return fps


def async_carracing(num_envs: int, steps: int) -> float:
    env = gym.make_vec("CarRacing-v3", num_envs=num_envs, vectorization_mode="async")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    env.step(rng.uniform([-1, 0, 0], [1, 1, 0.2], size=(num_envs, 3)).astype(np.float32))
    start = time.perf_counter()
    for _ in range(steps):
        env.step(rng.uniform([-1, 0, 0], [1, 1, 0.2], size=(num_envs, 3)).astype(np.float32))
    fps = steps * num_envs / (time.perf_counter() - start)
    env.close()
    return fps


def twin(num_envs: int, steps: int, compile: bool, antialias: bool) -> tuple[float, float]:
    """(frames/s, seconds of reset + compilation)."""
    start = time.perf_counter()
    env = CarRacing(num_envs, compile=compile, antialias=antialias, max_episode_steps=1000)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    low, high = torch.tensor([-1.0, 0.0, 0.0]), torch.tensor([1.0, 1.0, 0.2])
    env.validate_actions = False
    env.step(low + (high - low) * torch.rand(num_envs, 3, generator=gen))  # warm-up (compiles)
    setup = time.perf_counter() - start
    actions = [low + (high - low) * torch.rand(num_envs, 3, generator=gen) for _ in range(steps)]
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    return steps * num_envs / (time.perf_counter() - start), setup


def rollout_fps(policy_name: str, pop: int, steps: int) -> tuple[float, float]:
    env = CarRacing(pop, max_episode_steps=steps)
    if policy_name == "cnn":
        policy = CNNPolicy(env.single_observation_space, env.single_action_space, preset="ga_carracing")
    else:
        policy = PixelHebbianPolicy(env.single_observation_space, env.single_action_space, rule="ABCD_lr")
    params = 0.1 * torch.randn(pop, policy.num_params, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    rollout(env, policy, params, seed=0, engine="loop")
    wall = time.perf_counter() - start
    return pop * steps / wall, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 256, 1024])
    parser.add_argument("--compiled-sizes", type=int, nargs="*", default=[256])
    parser.add_argument("--frames", type=int, default=4096, help="twin frames timed per size (at least 5 steps)")
    parser.add_argument("--reference-steps", type=int, default=300)
    parser.add_argument("--async-envs", type=int, default=2)
    parser.add_argument("--rollout-pop", type=int, default=64, help="0: skip the rollouts")
    parser.add_argument("--rollout-steps", type=int, default=100)
    parser.add_argument("--no-antialias", action="store_true", help="nearest-texel ground (antialias=False)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, antialias {not args.no_antialias}", flush=True)

    anchor = [carracing_v3(args.reference_steps)]
    print(f"CarRacing-v3 single env: {anchor[0]:,.0f} frames/s", flush=True)
    async_fps = async_carracing(args.async_envs, args.reference_steps // 2)
    print(f"CarRacing-v3 AsyncVectorEnv x{args.async_envs}: {async_fps:,.0f} frames/s", flush=True)
    results = []
    for compile in (False, True):
        for n in args.compiled_sizes if compile else args.sizes:
            steps = max(5, min(300, args.frames // n))
            fps, setup = twin(n, steps, compile, not args.no_antialias)
            results.append((n, compile, fps))
            print(f"twin N={n:5d} {'compiled' if compile else 'eager   '}: {fps:12,.0f} frames/s "
                  f"(setup {setup:.1f} s, {steps} steps)", flush=True)
    for name in ("cnn", "pixel_hebbian") if args.rollout_pop > 0 else ():
        fps, wall = rollout_fps(name, args.rollout_pop, args.rollout_steps)
        print(f"rollout {name} pop {args.rollout_pop} x {args.rollout_steps} steps: {fps:,.0f} frames/s ({wall:.1f} s)", flush=True)
    anchor.append(carracing_v3(args.reference_steps))
    ref = float(np.mean(anchor))
    print(f"CarRacing-v3 single env again: {anchor[1]:,.0f} frames/s; anchor (mean) {ref:,.0f}")
    for n, compile, fps in results:
        print(f"  twin N={n:5d} {'compiled' if compile else 'eager   '}: {fps / ref:8.1f}x CarRacing-v3")


if __name__ == "__main__":
    main()
