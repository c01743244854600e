"""Throughput of a Hebbian population: env steps per second, the policy learning after every step.

Workload of the anchors in shared/bench/anchors (torch_ref_hebbian.py, hebbian_seed_style.py): ABCD_lr rule
(Najarro & Risi 2020, arXiv 2007.02686) on a 3-32-32-1 tanh network without biases, Pendulum-v1 dynamics
(``MetaRL/PendulumSwingup-v1``), 200 steps, one lifetime per individual. Modes:

- ``loop``: the plain loop a user writes over the whole population, eager kernels::

      actions, s = policy.act(params, obs, s); obs, r, term, trunc, info = env.step(actions); s = policy.learn(params, s, r)

- ``loop_compiled``: the same loop with ``HebbianPolicy(compile=True)`` (fused forward and update kernels);
- ``default``: :func:`metarl_gym.evolution.rollout.rollout` as ``metarl-gym evolve`` calls it by default
  (``engine="auto"``, ``compile="auto"``: the blocked engine, eager below 4,096 rows and compiled from there on,
  the default block size unless ``--block-size``);
- ``compiled``: ``rollout(..., engine="blocked", compile=True)``: blocks of individuals play their whole lifetime
  while their weights and rule terms stay in cache, and 10 steps of env physics, forward pass and Hebbian update
  are one compiled graph.

Usage: python benchmarks/plastic_throughput.py [--pops 1000 10000] [--modes loop loop_compiled default compiled]
       [--threads 2] [--block-size N] [--with-anchors]
Prints one line per mode and size in the anchors' format with the mode appended,
``P=<pop> env_steps_per_s=<float> mode=<mode>`` (best of 3 timed runs after a warm-up, which also compiles:
``compile_s``), and with ``--with-anchors`` the anchors' lines and our ratios to them. Figures on a shared CPU
are noisy; compare within one run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "anchors"
MODES = ("loop", "loop_compiled", "default", "compiled")


def measure(mode: str, pop: int, args) -> tuple[float, float]:
    """(env_steps_per_s, warm-up seconds) of one mode at one population size."""
    import gymnasium as gym
    import torch

    import metarl_gym  # noqa: F401  (registers the env ids)
    from metarl_gym.agents import HebbianPolicy
    from metarl_gym.evolution import rollout

    env = gym.make_vec("MetaRL/PendulumSwingup-v1", num_envs=pop, vectorization_mode="vector_entry_point", max_episode_steps=args.steps)
    policy = HebbianPolicy(
        env.single_observation_space, env.single_action_space,
        hidden_sizes=(32, 32), rule="ABCD_lr", init_weights="uni", output="clip", compile=mode == "loop_compiled",
    )
    generator = torch.Generator().manual_seed(0)
    params = policy.random_params(pop, generator=generator)

    def loop() -> None:
        obs, _ = env.reset(seed=0)
        s = policy.initial_state(params, generator)
        for _ in range(args.steps):
            actions, s = policy.act(params, obs, s)
            obs, r, term, trunc, info = env.step(actions)
            s = policy.learn(params, s, r)

    def engine() -> None:
        kwargs = {"engine": "blocked", "compile": True} if mode == "compiled" else {}
        with warnings.catch_warnings():
            # a compile failure falls back to eager with a warning: fail instead (torch's own deprecation
            # warnings while importing inductor stay warnings)
            warnings.filterwarnings("error", message="rollout: torch.compile failed")
            _, stats = rollout(env, policy, params, seed=0, block_size=args.block_size, return_stats=True, **kwargs)
        assert stats["engine"] == "blocked", stats

    run = engine if mode in ("default", "compiled") else loop
    start = time.perf_counter()
    run()  # warm-up (and compilation)
    warm_up = time.perf_counter() - start
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    env.close()
    return pop * args.steps / best, warm_up


def run_anchor(script: str, pop: int, steps: int) -> float:
    """env_steps_per_s printed by one anchor script, run with this interpreter."""
    out = subprocess.run([sys.executable, str(ANCHORS / script), str(pop), str(steps)], capture_output=True, text=True, check=True)
    return float(re.search(r"env_steps_per_s=([0-9.]+)", out.stdout).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pops", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--block-size", type=int, default=None, help="default / compiled: rows per block (rollout's default)")
    parser.add_argument("--with-anchors", action="store_true", help="also run torch_ref_hebbian.py and hebbian_seed_style.py")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    for pop in args.pops:
        ours = {}
        for mode in args.modes:
            rate, warm_up = measure(mode, pop, args)
            ours[mode] = rate
            print(f"P={pop} env_steps_per_s={rate:.0f} mode={mode} compile_s={warm_up:.1f}", flush=True)
        if not args.with_anchors:
            continue
        for name in ("torch_ref_hebbian", "hebbian_seed_style"):
            try:
                rate = run_anchor(f"{name}.py", pop, args.steps)
            except (subprocess.CalledProcessError, AttributeError, FileNotFoundError) as err:
                print(f"P={pop} anchor={name} failed: {str(err).splitlines()[0]}", flush=True)
                continue
            print(f"P={pop} env_steps_per_s={rate:.0f} anchor={name}", flush=True)
            ratios = " ".join(f"{mode}={value / rate:.2f}" for mode, value in ours.items())
            print(f"P={pop} ratio_to_{name} {ratios}", flush=True)


if __name__ == "__main__":
    main()
