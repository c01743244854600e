"""Hebbian plasticity in random networks on CartPole (or the pendulum swing-up), next to the same network frozen.

Najarro & Risi (2020), "Meta-Learning through Hebbian Plasticity in Random Networks", NeurIPS, arXiv 2007.02686.
Every evaluation draws NEW random weights U(-0.1, 0.1); the synapses then change every step by evolved ABCD_lr
rules, ``ΔW = η·(A·pre·post + B·pre + C·post + D)`` (5 coefficients per synapse), and each layer is divided by its
max |w| after every update (the seed does this for non-Bullet envs). OpenAI-ES with the seed's settings evolves the
coefficients. The control is the same network and genome with ``plasticity: false``: the random weights then stay
as drawn, so the genome cannot change the behaviour and the ES has nothing to climb.

The evolution runs are ``metarl-gym evolve`` runs (metrics.csv, checkpoints, best.pt); this file starts the two
runs, then scores each ES solution (the distribution mean) on fresh lifetimes, each with new random weights.

Run:
    python examples/hebbian_cartpole.py                                               # CartPole, ~1 min
    python examples/hebbian_cartpole.py --config examples/configs/hebbian_pendulum.yaml   # pendulum, a few min
    python examples/hebbian_cartpole.py --no-control                                  # skip the frozen control
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import metarl_gym  # noqa: F401  (registers the MetaRL ids)
from metarl_gym.config import apply_overrides, load_yaml, resolve_evolve_config
from metarl_gym.evolution.evaluate import load_solution, score
from metarl_gym.evolution.runner import evolve


@dataclass
class Args:
    config: str = "examples/configs/hebbian_cartpole.yaml"
    """YAML config of the plastic run (hebbian_cartpole.yaml or hebbian_pendulum.yaml)."""
    run_dir: str = "runs/hebbian_cartpole"
    """Run directory of the plastic run; the control goes to RUN_DIR-static. Both must not hold a run yet."""
    control: bool = True
    """Also evolve the control (the same config with plasticity: false) and score it."""
    eval_lifetimes: int = 100
    """Fresh lifetimes (new random weights each; `episodes` episodes per lifetime, as in training) to score on."""
    eval_seed: int = 12345
    """Seed of the final evaluation (never used in training)."""
    threads: int = 1
    """torch intra-op threads (small batches: one thread is fastest, and 2 stall on a busy 2-core machine)."""


def parse_args() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for field in dataclasses.fields(Args):
        name = f"--{field.name.replace('_', '-')}"
        if field.type in (bool, "bool"):
            parser.add_argument(name, action=argparse.BooleanOptionalAction, default=field.default, help=field.name)
        else:
            parser.add_argument(name, type=type(field.default), default=field.default)
    return Args(**vars(parser.parse_args()))


def run(config: dict, run_dir: Path, args: Args) -> tuple[float, float, float]:
    """Evolve ``config`` in ``run_dir``; return (mean, std) of the ES solution's score and the wall time."""
    start = time.perf_counter()
    evolve(config, run_dir)
    wall = time.perf_counter() - start
    _, solution = load_solution(run_dir)
    returns = score(config, solution, args.eval_lifetimes, args.eval_seed)
    return float(returns.mean()), float(returns.std()), wall


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    config = resolve_evolve_config(load_yaml(args.config))
    p = config["policy"]["kwargs"]
    print(f"{config['env']['id']}: Hebbian {p['rule']} hidden {p['hidden_sizes']}, init_weights {p['init_weights']}; "
          f"{config['strategy']['name']} pop {config['strategy']['pop_size']}, {config['generations']} generations, "
          f"{config['episodes']} episode(s) per lifetime")

    results = {}
    variants = [("plastic", config, Path(args.run_dir))]
    if args.control:
        frozen = resolve_evolve_config(apply_overrides(config, ["policy.kwargs.plasticity=false"]))
        variants.append(("frozen (plasticity: false)", frozen, Path(args.run_dir + "-static")))
    for name, cfg, run_dir in variants:
        results[name] = run(cfg, run_dir, args)
        mean, std, wall = results[name]
        print(f"{name:<28} evolved in {wall:6.1f} s -> {run_dir}; "
              f"ES solution: mean return {mean:8.1f} ± {std:6.1f} over {args.eval_lifetimes} fresh lifetimes")


if __name__ == "__main__":
    main()
