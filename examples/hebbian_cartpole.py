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
    python examples/hebbian_cartpole.py --run-dir runs/h generations=5                # key=value config overrides
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import metarl_gym  # noqa: F401  (registers the MetaRL ids)
from metarl_gym.config import apply_overrides, load_yaml, resolve_evolve_config
from metarl_gym.evolution.evaluate import load_solution, score
from metarl_gym.evolution.runner import evolve


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=Path(__file__).parent / "configs" / "hebbian_cartpole.yaml",
                        help="YAML config of the plastic run (hebbian_cartpole.yaml or hebbian_pendulum.yaml)")
    parser.add_argument("--run-dir", default="runs/hebbian_cartpole",
                        help="run directory of the plastic run; the control goes to RUN_DIR-static (both must not hold a run yet)")
    parser.add_argument("--control", action=argparse.BooleanOptionalAction, default=True,
                        help="also evolve the control (the same config with plasticity: false) and score it")
    parser.add_argument("--eval-lifetimes", type=int, default=100,
                        help="fresh lifetimes (new random weights each, `episodes` episodes each as in training) to score on")
    parser.add_argument("--eval-seed", type=int, default=12345, help="seed of the final evaluation (never used in training)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. generations=5")
    args = parser.parse_args(argv)

    config = resolve_evolve_config(apply_overrides(load_yaml(args.config), args.overrides))
    p = config["policy"]["kwargs"]
    print(f"{config['env']['id']}: Hebbian {p['rule']} hidden {p['hidden_sizes']}, init_weights {p['init_weights']}; "
          f"{config['strategy']['name']} pop {config['strategy']['pop_size']}, {config['generations']} generations, "
          f"{config['episodes']} episode(s) per lifetime")

    variants = [("plastic", config, Path(args.run_dir))]
    if args.control:
        frozen = apply_overrides(config, ["policy.kwargs.plasticity=false"])
        variants.append(("frozen (plasticity: false)", frozen, Path(args.run_dir + "-static")))
    results = {}
    for name, cfg, run_dir in variants:
        start = time.perf_counter()
        evolve(cfg, run_dir)
        wall = time.perf_counter() - start
        # The ES solution (the distribution mean) on fresh lifetimes, each with new random weights.
        run_config, solution = load_solution(run_dir)  # the resolved config.yaml and best.pt's params
        returns = score(run_config, solution, args.eval_lifetimes, args.eval_seed)
        results[name] = (float(returns.mean()), float(returns.std()))
        print(f"{name:<28} evolved in {wall:6.1f} s -> {run_dir}; ES solution: mean return "
              f"{returns.mean():8.1f} ± {returns.std():6.1f} over {args.eval_lifetimes} fresh lifetimes")
    return results


if __name__ == "__main__":
    torch.set_num_threads(1)  # small batches: one thread is fastest (two stall on a busy 2-core machine)
    main()
