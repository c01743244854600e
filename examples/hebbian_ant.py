"""Hebbian plasticity in random networks: the pybullet Ant learns to walk, then meets a held-out damaged leg.

Najarro & Risi (2020), "Meta-Learning through Hebbian Plasticity in Random Networks", NeurIPS, arXiv 2007.02686.
Every lifetime starts a 28-128-64-8 network from fresh random weights U(-0.1, 0.1); its 12,288 synapses change
every step by evolved ABCD_lr rules (61,440 coefficients), and OpenAI-ES evolves the rules. As in the paper, an
individual's fitness is its mean over the training morphologies, each a lifetime of its own: the config's
``env.morphologies: [standard, damaged_right]`` (the Ant whose right (+x, -y) ankle is shortened from 0.4 to 0.1).
This is the run of

    metarl-gym evolve examples/configs/hebbian_ant.yaml --run-dir runs/hebbian_ant

(metrics.csv reports the population on each morphology: mean_standard, mean_damaged_right, ...). The script then
scores the evolved rules (the ES mean) on fresh lifetimes of every morphology, the held-out ``damaged_left`` among
them, next to random rules N(0, init_std²) on the very same lifetimes (same starts and initial weights).

Fitness is in the seed's units: the sum of pybullet_envs' progress term (about 58 per metre walked along +x) over
an episode, with the seed's early stop. The final evaluation reports the seed's units and metres (the env's
``reward: distance``), both run to the time limit without early stop: the rules ignore the reward, so the two
units describe identical trajectories.

Run:
    python examples/hebbian_ant.py                          # the config's budget (see examples/RESULTS.md)
    python examples/hebbian_ant.py --run-dir runs/ant_smoke --eval-lifetimes 2 \\
        generations=2 strategy.pop_size=4 env.kwargs.max_episode_steps=50      # a smoke run (key=value overrides)
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

import metarl_gym  # noqa: F401  (registers the MetaRL ids)
from metarl_gym.config import apply_overrides, load_yaml, resolve_evolve_config
from metarl_gym.evolution.evaluate import load_solution, score
from metarl_gym.evolution.runner import evolve

HELD_OUT = "damaged_left"


def main(argv: list[str] | None = None) -> dict[str, dict[str, torch.Tensor]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=Path(__file__).parent / "configs" / "hebbian_ant.yaml")
    parser.add_argument("--run-dir", default="runs/hebbian_ant", help="run directory (must not hold a run yet)")
    parser.add_argument("--eval-lifetimes", type=int, default=8, help="fresh lifetimes per morphology in the final evaluation")
    parser.add_argument("--eval-seed", type=int, default=12345, help="seed of the final evaluation (never used in training)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. generations=2 strategy.pop_size=4")
    args = parser.parse_args(argv)

    config = resolve_evolve_config(apply_overrides(load_yaml(args.config), args.overrides))
    trained = config["env"]["morphologies"]
    print(f"{config['env']['id']} {config['env']['kwargs']}; one lifetime on each of {trained}")
    print(f"policy: Hebbian {config['policy']['kwargs']}; strategy: {config['strategy']['name']} "
          f"pop {config['strategy']['pop_size']}, {config['generations']} generations")

    # 1. Evolve: every generation, each individual lives once on each training morphology; fitness is the mean.
    summary = evolve(config, args.run_dir)
    print(f"evolved in {summary['wall_s'] / 60:.1f} min, {summary['env_steps']:,} env steps -> {args.run_dir}")
    with open(Path(args.run_dir) / "metrics.csv", newline="") as f:
        curve = list(csv.DictReader(f))
    k = max(1, len(curve) // 5)
    for name in ["mean"] + [f"mean_{m}" for m in trained]:
        first = sum(float(row[name]) for row in curve[:k]) / k
        last = sum(float(row[name]) for row in curve[-k:]) / k
        print(f"  population {name:<20} first {k} generation(s) {first:8.1f}   last {k} generation(s) {last:8.1f}")

    # 2. Score the evolved rules and random rules on the same fresh lifetimes of every morphology.
    config, rules = load_solution(args.run_dir)  # the resolved config.yaml and the ES mean (best.pt)
    n = args.eval_lifetimes
    generator = torch.Generator(device=config["device"]).manual_seed(args.eval_seed)
    init_std = config["strategy"]["kwargs"].get("init_std", 1.0)
    random_rules = init_std * torch.randn(n, rules.numel(), generator=generator, device=config["device"])
    steps = config["env"]["kwargs"]["max_episode_steps"]
    print(f"evaluation: {n} fresh lifetimes of {steps} steps per morphology (no early stop), seed units (sum of "
          "pybullet progress) and metres along +x, mean ± std")
    results = {}
    for morphology in [*trained, HELD_OUT]:
        row = {}
        for unit, reward in (("progress", config["env"]["kwargs"].get("reward", "default")), ("metres", "distance")):
            on = resolve_evolve_config(apply_overrides(config, [
                f"env.morphologies=[{morphology}]", f"env.kwargs.reward={reward}", "rollout.early_stop=null"]))
            row[f"evolved_{unit}"] = score(on, rules, n, args.eval_seed)         # lifetime j keyed key(eval_seed, j)
            row[f"random_{unit}"] = score(on, random_rules, n, args.eval_seed)  # random rule j on lifetime j
        results[morphology] = row
        e, r = row["evolved_progress"], row["random_progress"]
        em, rm = row["evolved_metres"], row["random_metres"]
        note = "held out" if morphology == HELD_OUT else "trained"
        print(f"  {morphology:<14} ({note:<8}): evolved {e.mean():7.1f} ± {e.std():5.1f} ({em.mean():6.2f} ± {em.std():.2f} m)"
              f"   random rules {r.mean():7.1f} ± {r.std():5.1f} ({rm.mean():6.2f} ± {rm.std():.2f} m)")
    return results


if __name__ == "__main__":
    torch.set_num_threads(1)  # pybullet and the network run one after the other: more threads only spin
    main()
