"""Throughput of a Hebbian population: env steps per second, the policy learning after every step.

Workload of the anchors in shared/bench/anchors (torch_ref_hebbian.py, hebbian_seed_style.py): ABCD_lr rule
(Najarro & Risi 2020, arXiv 2007.02686) on a 3-32-32-1 tanh network without biases, Pendulum-v1 dynamics
(``MetaRL/PendulumSwingup-v1``), 200 steps, with the plain loop a user writes::

    actions, s = policy.act(params, obs, s); obs, r, term, trunc, info = env.step(actions); s = policy.learn(params, s, r)

Usage: python benchmarks/plastic_throughput.py [--pops 1000 10000] [--steps 200] [--threads 2] [--compile auto|on|off]
Prints one line ``P=<pop> env_steps_per_s=<float>`` per population size (best of 3 timed runs after a warm-up,
which also compiles the kernels). Figures on a shared CPU are noisy; compare within one session.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pops", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto")
    args = parser.parse_args()

    import gymnasium as gym
    import torch

    import metarl_gym  # noqa: F401  (registers the env ids)
    from metarl_gym.agents.hebbian import HebbianPolicy

    torch.set_num_threads(args.threads)
    compile_flag = {"auto": None, "on": True, "off": False}[args.compile]
    for pop in args.pops:
        env = gym.make_vec("MetaRL/PendulumSwingup-v1", num_envs=pop, vectorization_mode="vector_entry_point")
        policy = HebbianPolicy(
            env.single_observation_space, env.single_action_space,
            hidden_sizes=(32, 32), rule="ABCD_lr", init_weights="uni", output="clip", compile=compile_flag,
        )
        generator = torch.Generator().manual_seed(0)
        params = policy.random_params(pop, generator=generator)

        def lifetime() -> float:
            obs, _ = env.reset(seed=0)
            s = policy.initial_state(params, generator)
            start = time.perf_counter()
            for _ in range(args.steps):
                actions, s = policy.act(params, obs, s)
                obs, r, term, trunc, info = env.step(actions)
                s = policy.learn(params, s, r)
            return time.perf_counter() - start

        lifetime()  # warm-up (and compilation)
        best = min(lifetime() for _ in range(args.repeats))
        print(f"P={pop} env_steps_per_s={pop * args.steps / best:.0f}", flush=True)
        env.close()


if __name__ == "__main__":
    main()
