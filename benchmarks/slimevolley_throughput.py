"""MetaRL/SlimeVolley-v0 throughput beside slimevolleygym's own game loop, in one run.

The workload: a 12-[20,20]-3 tanh MLP (random weights, the ga-openai-gym network) plays the right side against the
built-in baseline until each game ends (5 lost lives) or ``--horizon`` steps. Ours: a population of N games through
:func:`metarl_gym.evolution.rollout` (``eager``: the blocked engine without compiling, its default blocks;
``compiled``: the blocked engine compiled, blocks of ``--block-size`` rows, compiled once for both sizes).
Env steps count rows still in their game (a rollout steps every row until its longest game ends, so with the
full 3,000-step horizon most rows of a random network sit out most steps). The anchor: slimevolleygym 0.1.0's ``SlimeVolleyEnv.step`` (its game,
its baseline for the left side) with the same network in numpy choosing the right side's buttons, one game at a
time, reset when a game ends. slimevolleygym is imported without its old gym / cv2
(``pip install --no-deps slimevolleygym==0.1.0``; tests/envs/slimevolley_reference.py).

Output, one line per measurement::

    impl=<name> N=<games> [horizon=<steps>] env_steps_per_s=<float> ratio=<vs slimevolleygym> [compile_s=<float>]

Timing: best of ``--repeats`` after one warm-up call (the compiled warm-up includes compiling: compile_s).

Usage: python benchmarks/slimevolley_throughput.py [--sizes 1000 10000] [--modes eager compiled]
       [--threads 1] [--device cpu] [--block-size 1000] [--horizon 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "envs"))
import slimevolley_reference  # noqa: E402

import metarl_gym  # noqa: E402,F401
from metarl_gym.agents import MLPPolicy  # noqa: E402
from metarl_gym.envs import make  # noqa: E402
from metarl_gym.evolution import rollout  # noqa: E402


def slimevolleygym_steps_per_s(seconds: float = 5.0) -> float:
    """Env steps per second of slimevolleygym's ``SlimeVolleyEnv.step`` driven by a numpy 12-[20,20]-3 tanh MLP."""
    sv = slimevolley_reference.load()
    if sv is None:
        raise SystemExit("slimevolleygym is not installed: pip install --no-deps slimevolleygym==0.1.0")
    rng = np.random.default_rng(0)
    layers = [(rng.normal(0, 1 / np.sqrt(i), (i, o)), np.zeros(o)) for i, o in ((12, 20), (20, 20), (20, 3))]

    def act(obs):
        h = obs
        for k, (w, b) in enumerate(layers):
            h = h @ w + b
            h = np.tanh(h)
        return (h > 0).astype(float)

    env = sv.SlimeVolleyEnv()
    env.seed(0)
    obs = env.reset()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(500):
            obs, _, done, _ = env.step(act(obs))
            if done:
                obs = env.reset()
        steps += 500
    return steps / (time.perf_counter() - start)


def ours_steps_per_s(n: int, mode: str, device: str, block_size: int, repeats: int, horizon: int) -> tuple[float, float]:
    """(env steps per second, warm-up seconds) of a population of n games in one mode, each game cut at ``horizon``."""
    env = make("MetaRL/SlimeVolley-v0", n, device=device, max_episode_steps=horizon)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(20, 20), activation="tanh")
    params = policy.random_params(n, generator=torch.Generator().manual_seed(0)).to(device)
    kwargs = {"eager": {"engine": "blocked", "compile": False},
              "compiled": {"engine": "blocked", "compile": True, "block_size": block_size}}[mode]
    call = lambda: rollout(env, policy, params, seed=0, return_stats=True, **kwargs)  # noqa: E731
    start = time.perf_counter()
    call()
    warmup = time.perf_counter() - start
    best = 0.0
    for _ in range(repeats):
        if device != "cpu":
            torch.cuda.synchronize()
        start = time.perf_counter()
        _, stats = call()
        if device != "cpu":
            torch.cuda.synchronize()
        best = max(best, stats["env_steps"] / (time.perf_counter() - start))
    return best, warmup


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--modes", nargs="+", default=["eager", "compiled"], choices=["eager", "compiled"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--block-size", type=int, default=1000, help="rows per compiled block (one compilation)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--horizon", type=int, default=300,
                        help="steps per game (a random network loses a whole game in ~500 steps, but a rollout runs "
                             "until its longest game ends: 300 keeps nearly every row in play, 3000 measures the GA's case)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    anchor = slimevolleygym_steps_per_s()
    print(f"impl=slimevolleygym N=1 env_steps_per_s={anchor:.0f} ratio=1.0", flush=True)
    for mode in args.modes:
        for n in args.sizes:
            rate, warmup = ours_steps_per_s(n, mode, args.device, args.block_size, args.repeats, args.horizon)
            extra = f" compile_s={warmup:.0f}" if mode == "compiled" and n == args.sizes[0] else ""
            print(f"impl=metarl_gym-{mode} N={n} horizon={args.horizon} env_steps_per_s={rate:.0f} "
                  f"ratio={rate / anchor:.1f}{extra}", flush=True)
    again = slimevolleygym_steps_per_s()  # the anchor again: the machine's load may have changed meanwhile
    print(f"impl=slimevolleygym-again N=1 env_steps_per_s={again:.0f} ratio={again / anchor:.2f}", flush=True)


if __name__ == "__main__":
    main()
