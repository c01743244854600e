"""Population rollout throughput: MLPPolicy 3-32-32-1 (tanh) on 200 steps of MetaRL/PendulumSwingup-v1.

The anchors' workload (../shared/bench/anchors/gymnax_pop.py, torch_ref_pop.py). Each (mode, size) runs in its
own child process, so ``peak_rss_mb`` is that size's own peak. One line per mode and size, in the anchors'
format with the mode appended::

    P=<pop> env_steps_per_s=<float> peak_rss_mb=<float> mode=<mode> [compile_s=<float>]

Modes (all through :func:`metarl_gym.evolution.rollout.rollout`): ``loop`` (``engine="loop"``), ``default``
(what ``metarl-gym evolve`` runs without a ``rollout:`` section: ``engine="auto"``, ``compile="auto"``, the
default block size; here the blocked engine, eager below 4,096 rows and compiled from there on) and
``compiled`` (``engine="blocked", compile=True``). ``--block-size`` overrides the block size of ``default`` /
``compiled`` (a block-size sweep: ``--modes default --block-size 256 1024 4096``). ``--with-anchors`` also runs
the anchor scripts with ``--anchor-python`` (gymnax needs ``pip install -e .[bench]``, i.e. jax, gymnax >= 1.0
and six, in that interpreter) and prints the ratios.
``--env`` runs the same policy on another registered id (e.g. ``MetaRL/CartPole-v1``, a Discrete env whose
episodes end early: the rate counts the env steps actually taken; the anchors stay on PendulumSwingup).
Timing: best of 3 after one warm-up call (the warm-up of compiled includes compilation: compile_s).

Usage: python benchmarks/rollout_throughput.py [--sizes 1000 10000] [--modes loop default compiled]
       [--threads 2] [--block-size N ...] [--env ID] [--with-anchors --anchor-python /work/venv/bin/python]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "anchors"
MODES = ("loop", "default", "compiled")


def measure(mode: str, pop: int, steps: int, threads: int, block_size: int | None, env_id: str = "MetaRL/PendulumSwingup-v1",
            repeats: int = 3) -> dict:
    """Env steps per second of one mode at one population size (run in a child process)."""
    import gymnasium as gym
    import torch

    import metarl_gym  # noqa: F401
    from metarl_gym.agents import MLPPolicy
    from metarl_gym.evolution import rollout

    torch.set_num_threads(threads)
    env = gym.make_vec(env_id, num_envs=pop, vectorization_mode="vector_entry_point", max_episode_steps=steps)
    output = {"output": "tanh"} if isinstance(env.single_action_space, gym.spaces.Box) else {}  # Discrete: argmax
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(32, 32), activation="tanh", **output)
    params = policy.random_params(pop, generator=torch.Generator().manual_seed(0))
    kwargs = {"loop": {"engine": "loop"}, "default": {"block_size": block_size},
              "compiled": {"engine": "blocked", "block_size": block_size, "compile": True}}[mode]
    call = lambda: rollout(env, policy, params, seed=0, return_stats=True, **kwargs)  # noqa: E731
    start = time.perf_counter()
    _, stats = call()  # warm-up (compiles in compiled)
    warmup_s = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    out = {"env_steps_per_s": stats["env_steps"] / best, "engine": stats["engine"]}  # pop * steps where nothing ends early
    if mode != "loop":
        out["compile_s"] = max(0.0, warmup_s - best)  # the default compiles from 4,096 rows on (compile="auto")
    return out


def run_child(cmd: list[str], env=None) -> tuple[str, float]:
    """Run ``cmd``; return its stdout and its own peak RSS in MB (os.wait4 gives one child's rusage)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-2000:]}")
    # communicate() already reaped the child; its rusage is in RUSAGE_CHILDREN only cumulatively, so the
    # child reports its own peak (see _child_main) or we fall back to the cumulative maximum.
    match = re.search(r"peak_rss_mb=([0-9.]+)", stdout)
    if match:
        return stdout, float(match.group(1))
    import resource

    return stdout, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _child_main(args) -> None:
    import resource

    block = args.block_size[0] if args.block_size else None
    out = measure(args.child, args.child_pop, args.steps, args.threads, block, args.env)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    extra = f" compile_s={out['compile_s']:.1f}" if "compile_s" in out else ""
    blk = f" block_size={block if block is not None else 'default'}" if args.child != "loop" else ""
    print(f"P={args.child_pop} env_steps_per_s={out['env_steps_per_s']:.0f} peak_rss_mb={peak:.1f} mode={args.child} "
          f"engine={out['engine']}{blk} env={args.env}{extra}", flush=True)


def run_anchor(python: str, script: str, pop: int, steps: int) -> tuple[float, float]:
    """(env_steps_per_s, peak_rss_mb) of one anchor script in a child process."""
    wrapper = (
        "import resource, runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); "
        "print(f'peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}')"
    )
    stdout, peak = run_child([python, "-c", wrapper, str(ANCHORS / script), str(pop), str(steps)])
    rate = float(re.search(r"env_steps_per_s=([0-9.]+)", stdout).group(1))
    return rate, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in our children (the anchors use 2)")
    parser.add_argument("--block-size", type=int, nargs="+", default=None,
                        help="rows per block of default / compiled (several: a sweep); default: rollout's default")
    parser.add_argument("--env", default="MetaRL/PendulumSwingup-v1", help="registered id (the anchors' workload by default)")
    parser.add_argument("--with-anchors", action="store_true", help="also run gymnax_pop.py and torch_ref_pop.py")
    parser.add_argument("--anchor-python", default=sys.executable, help="interpreter with jax, gymnax and torch")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--child-pop", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child_main(args)
        return

    if args.with_anchors and args.env != "MetaRL/PendulumSwingup-v1":
        parser.error("--with-anchors compares on the anchors' workload: leave --env at MetaRL/PendulumSwingup-v1")
    common = ["--steps", str(args.steps), "--threads", str(args.threads), "--env", args.env]
    blocks = args.block_size or [None]
    for pop in args.sizes:
        ours = {}
        for mode in args.modes:
            for block in blocks if mode != "loop" else [None]:
                extra = ["--block-size", str(block)] if block is not None else []
                stdout, _ = run_child([sys.executable, os.path.abspath(__file__), "--child", mode, "--child-pop", str(pop), *common, *extra])
                line = stdout.strip().splitlines()[-1]
                print(line, flush=True)
                name = mode if block is None or len(blocks) == 1 else f"{mode}@{block}"
                ours[name] = float(re.search(r"env_steps_per_s=([0-9.]+)", line).group(1))
        if not args.with_anchors:
            continue
        anchors = {}
        for name, script, python in (("gymnax", "gymnax_pop.py", args.anchor_python), ("torch_ref", "torch_ref_pop.py", sys.executable)):
            try:
                rate, peak = run_anchor(python, script, pop, args.steps)
            except (RuntimeError, AttributeError) as err:
                print(f"P={pop} anchor={name} failed: {str(err).splitlines()[0]}", flush=True)
                continue
            anchors[name] = rate
            print(f"P={pop} env_steps_per_s={rate:.0f} peak_rss_mb={peak:.1f} anchor={name}", flush=True)
        for name, rate in anchors.items():
            ratios = " ".join(f"{mode}={value / rate:.2f}" for mode, value in ours.items())
            print(f"P={pop} ratio_to_{name} {ratios}", flush=True)


if __name__ == "__main__":
    main()
