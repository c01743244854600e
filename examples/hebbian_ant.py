"""Hebbian plasticity in random networks: the pybullet Ant learns to walk, then meets a held-out damaged leg.

Najarro & Risi (2020), "Meta-Learning through Hebbian Plasticity in Random Networks", NeurIPS, arXiv 2007.02686.
Every evaluation starts a 28-128-64-8 network from random weights U(-0.1, 0.1); its 12,288 synapses change every
step by evolved ABCD_lr rules (61,440 coefficients), and OpenAI-ES evolves the rules. The fitness is the distance
walked along +x, averaged over a lifetime of two episodes: the standard Ant, then the Ant whose right (+x, -y)
ankle is shortened from 0.4 to 0.1. The left damaged leg is never seen in training; this script evaluates the
evolved rules on it at the end, next to random rules.

The run itself is ``metarl-gym evolve examples/configs/hebbian_ant.yaml`` (checkpoints, resume, metrics.csv);
this file builds the same pieces, calls the runner, then prints the learning curve and the evaluation.

Run:
    python examples/hebbian_ant.py                       # the config's budget: about 25 minutes on 2 cores
    python examples/hebbian_ant.py --generations 3       # a smoke run
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import torch

import metarl_gym  # noqa: F401  (registers the MetaRL ids)
from metarl_gym.agents.hebbian import HebbianPolicy
from metarl_gym.config import load_yaml, resolve_evolve_config
from metarl_gym.evolution import STRATEGIES
from metarl_gym.evolution.rollout import rollout
from metarl_gym.evolution.runner import evolve


@dataclass
class Args:
    config: str = "examples/configs/hebbian_ant.yaml"
    """YAML config: env, policy, strategy, generations, episodes, seed, device, rollout."""
    run_dir: str = "runs/hebbian_ant"
    """Run directory (must not hold a run yet; `metarl-gym evolve --resume DIR` continues one)."""
    generations: int | None = None
    """Override the config's number of generations."""
    eval_episodes: int = 8
    """Episodes (fresh random weights each) per morphology in the final evaluation."""
    eval_seed: int = 12345
    """Seed of the final evaluation."""
    threads: int = 1
    """torch intra-op threads: pybullet and the network run one after the other, so more threads only spin."""


def parse_args() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for field in dataclasses.fields(Args):
        kind = int if field.name in ("generations", "eval_episodes", "eval_seed", "threads") else str
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=field.default)
    return Args(**vars(parser.parse_args()))


def build(config: dict):
    """The env (one row, for its spaces), the Hebbian policy and the OpenAI-ES strategy of ``config``.

    ``evolve`` builds exactly these from the config (the env with ``pop_size`` rows, each playing a lifetime of
    ``episodes`` episodes); they are built here to show what runs.
    """
    env_cfg = config["env"]
    env = gym.make_vec(env_cfg["id"], num_envs=1, device=config["device"], **env_cfg["kwargs"])
    policy = HebbianPolicy(env.single_observation_space, env.single_action_space, **config["policy"]["kwargs"])
    strategy = STRATEGIES[config["strategy"]["name"]](
        num_params=policy.num_params,
        pop_size=config["strategy"]["pop_size"],
        seed=config["seed"],
        device=config["device"],
        **config["strategy"]["kwargs"],
    )
    return env, policy, strategy


def learning_curve(run_dir: Path) -> list[dict[str, float]]:
    with (run_dir / "metrics.csv").open() as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def evaluate(config: dict, policy: HebbianPolicy, params: torch.Tensor, morphology: str, episodes: int, seed: int) -> torch.Tensor:
    """Distance walked ``[episodes]`` by ``params [1 or episodes, D]``: one episode per row, fresh random weights."""
    kwargs = {k: v for k, v in config["env"]["kwargs"].items() if k != "morphology_cycle"}
    env = gym.make_vec(config["env"]["id"], num_envs=episodes, device=config["device"], morphology=morphology, **kwargs)
    distances = rollout(env, policy, params.expand(episodes, -1), num_episodes=1, seed=seed)
    env.close()
    return distances


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    config = resolve_evolve_config(load_yaml(args.config))
    if args.generations is not None:
        config["generations"] = args.generations

    env, policy, strategy = build(config)
    print(f"{config['env']['id']} {config['env']['kwargs']}")
    print(f"policy: Hebbian {config['policy']['kwargs']['rule']}, {policy.num_params:,} evolved coefficients; "
          f"strategy: {config['strategy']['name']} pop {strategy.pop_size}, {config['generations']} generations")
    env.close()

    run_dir = Path(args.run_dir)
    summary = evolve(config, run_dir)
    print(f"evolved in {summary['wall_s'] / 60:.1f} min, {summary['env_steps']:,} env steps -> {run_dir}")

    curve = learning_curve(run_dir)
    every = max(1, len(curve) // 10)
    print("generation  mean distance  best distance   (fitness: metres, mean of the two episodes)")
    for row in curve[::every] + ([curve[-1]] if (len(curve) - 1) % every else []):
        print(f"{int(row['generation']):>10}  {row['mean']:>13.3f}  {row['best']:>13.3f}")
    k = max(1, len(curve) // 5)
    first = sum(r["mean"] for r in curve[:k]) / k
    last = sum(r["mean"] for r in curve[-k:]) / k
    print(f"population mean distance: first {k} generations {first:.3f} m, last {k} generations {last:.3f} m")

    best = torch.load(run_dir / "best.pt", map_location=config["device"], weights_only=False)["params"].reshape(1, -1)
    generator = torch.Generator(device=config["device"]).manual_seed(args.eval_seed)
    random_rules = torch.randn(args.eval_episodes, policy.num_params, generator=generator, device=config["device"])
    print(f"evaluation: distance walked (m), {args.eval_episodes} episodes of {config['env']['kwargs'].get('max_episode_steps', 1000)} steps")
    for morphology, note in [("standard", "trained"), ("damaged_right", "trained"), ("damaged_left", "held out")]:
        evolved = evaluate(config, policy, best, morphology, args.eval_episodes, args.eval_seed)
        baseline = evaluate(config, policy, random_rules, morphology, args.eval_episodes, args.eval_seed)
        print(f"  {morphology:<14} ({note:<8}): evolved rule {evolved.mean():7.3f} ± {evolved.std():.3f}   "
              f"random rules {baseline.mean():7.3f} ± {baseline.std():.3f}")


if __name__ == "__main__":
    main()
