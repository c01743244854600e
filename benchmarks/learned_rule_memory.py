"""Peak memory of one MetaRL generation: 10,000 LearnedRulePolicy individuals on MetaRL/DoublePendulum-v0.

The [6, 8, 8, 1] actor with the learned rule (520 genes) lives 2,000 steps (one episode), evaluated by
``metarl_gym.evolution.rollout.rollout`` as in training. MetaRL's README claims "roughly 500 MB of GPU memory"
for 10,000 individuals (ASFaust/MetaRL; our target on CPU: <= 250 MB above the interpreter's baseline).

Usage: python benchmarks/learned_rule_memory.py [--pop 10000] [--steps 2000] [--threads 2]
Prints ``peak_rss_mb=<float> wall_s=<float>``: the peak resident set size above the baseline taken after the
imports and the env creation, and the wall time of the generation. Timings on a shared CPU are noisy.
"""

from __future__ import annotations

import argparse
import resource
import time


def _status_kb(field: str) -> float | None:
    """A ``/proc/self/status`` field in kB (Linux), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pop", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import gymnasium as gym
    import torch

    import metarl_gym  # noqa: F401  (registers the env ids)
    from metarl_gym.agents import LearnedRulePolicy
    from metarl_gym.evolution import rollout

    torch.set_num_threads(args.threads)
    env = gym.make_vec(
        "MetaRL/DoublePendulum-v0", num_envs=args.pop, vectorization_mode="vector_entry_point", max_episode_steps=args.steps
    )
    policy = LearnedRulePolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(8, 8))
    assert policy.sizes == (6, 8, 8, 1) and policy.num_params == 520

    baseline = (_status_kb("VmRSS") or 0) / 1024 if reset_peak() else peak_rss_mb()
    start = time.perf_counter()
    params = policy.random_params(args.pop, generator=torch.Generator().manual_seed(0))
    fitness = rollout(env, policy, params, seed=0)
    wall = time.perf_counter() - start
    assert fitness.shape == (args.pop,) and torch.isfinite(fitness).all()
    print(f"peak_rss_mb={peak_rss_mb() - baseline:.1f} wall_s={wall:.1f}")


if __name__ == "__main__":
    main()
