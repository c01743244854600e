"""Hebbian plasticity in random networks: the pybullet Ant learns to walk, then meets a held-out damaged leg.

Najarro & Risi (2020), "Meta-Learning through Hebbian Plasticity in Random Networks", NeurIPS, arXiv 2007.02686.
Every lifetime starts a 28-128-64-8 network from fresh random weights U(-0.1, 0.1); its 12,288 synapses change
every step by evolved ABCD_lr rules (61,440 coefficients), and OpenAI-ES evolves the rules. As in the paper, an
individual's fitness is its mean over the training morphologies (default: the standard Ant and the Ant whose
right (+x, -y) ankle is shortened from 0.4 to 0.1), **each morphology a lifetime of its own**: the env has one
row per (individual, morphology), and ``rollout`` treats the ``num_envs / pop`` rows of an individual as separate
lifetimes, each drawing its own initial weights. The left damaged leg is never seen in training; the script
evaluates the evolved rules on it at the end, next to random rules.

Fitness is in the seed's units: the sum of pybullet_envs' progress term (``env.unwrapped.rewards[1]``, about 58
per metre walked along +x) over an episode, with the seed's early stop. The final evaluation reports both the
seed's units and metres, from the same episodes (run to the time limit, without early stop, so that the two
units describe identical trajectories).

Why not ``metarl-gym evolve``: the runner plays a plastic policy's ``episodes`` as one lifetime, so the second
morphology would start from weights already adapted on the first. With a single morphology the config runs
there unchanged (``metarl-gym evolve examples/configs/hebbian_ant.yaml``: the standard Ant, as the seed's
shipped code). This script writes ``metrics.csv`` and ``rules.pt`` (the ES mean) into ``--run-dir``; it does
not checkpoint.

Run:
    python examples/hebbian_ant.py                          # the config's budget (see examples/RESULTS.md)
    python examples/hebbian_ant.py --generations 2 --pop-size 4 --max-episode-steps 50 --eval-episodes 2   # smoke
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import torch

import metarl_gym  # noqa: F401  (registers the MetaRL ids)
from metarl_gym.agents.hebbian import HebbianPolicy
from metarl_gym.config import load_yaml, resolve_evolve_config
from metarl_gym.evolution import STRATEGIES
from metarl_gym.evolution.rollout import rollout

EVAL_MORPHOLOGIES = [("standard", "trained"), ("damaged_right", "trained"), ("damaged_left", "held out")]


@dataclass
class Args:
    config: str = "examples/configs/hebbian_ant.yaml"
    """YAML config: env, policy, strategy, generations, seed, device, rollout.early_stop."""
    run_dir: str = "runs/hebbian_ant"
    """Directory for metrics.csv and rules.pt (must not hold a metrics.csv yet)."""
    morphologies: str = "standard,damaged_right"
    """Training morphologies, comma-separated; each individual plays one lifetime on each."""
    generations: int | None = None
    """Override the config's number of generations."""
    pop_size: int | None = None
    """Override the config's population size."""
    max_episode_steps: int | None = None
    """Override the config's episode length."""
    seed: int | None = None
    """Override the config's run seed."""
    eval_episodes: int = 8
    """Lifetimes (fresh random weights each) per morphology in the final evaluation."""
    eval_seed: int = 12345
    """Seed of the final evaluation (never used in training)."""
    threads: int = 1
    """torch intra-op threads: pybullet and the network run one after the other, so more threads only spin."""


def parse_args() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for field in dataclasses.fields(Args):
        kind = str if field.type in ("str",) else int
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=field.default)
    return Args(**vars(parser.parse_args()))


def load_config(args: Args) -> dict:
    config = load_yaml(args.config)
    if args.generations is not None:
        config["generations"] = args.generations
    if args.pop_size is not None:
        config["strategy"]["pop_size"] = args.pop_size
    if args.seed is not None:
        config["seed"] = args.seed
    if args.max_episode_steps is not None:
        config["env"]["kwargs"]["max_episode_steps"] = args.max_episode_steps
    return resolve_evolve_config(config)


def make_env(config: dict, morphologies: list[str], **overrides) -> gym.vector.VectorEnv:
    """The config's env with one row per entry of ``morphologies`` (``[N]`` names); ``overrides`` replace kwargs."""
    kwargs = {k: v for k, v in config["env"]["kwargs"].items() if k not in ("morphology", "morphology_cycle")}
    kwargs.update(overrides)
    return gym.make_vec(config["env"]["id"], num_envs=len(morphologies), device=config["device"],
                        morphology=list(morphologies), **kwargs)


def training_env(config: dict, morphologies: list[str]) -> gym.vector.VectorEnv:
    """``pop × M`` rows: row ``i·M + m`` is individual ``i``'s lifetime on ``morphologies[m]``.

    ``rollout`` repeats each individual's params over its ``M`` adjacent rows (``repeat_interleave``) and draws
    every row's initial weights afresh, so each (individual, morphology) is a separate lifetime.
    """
    return make_env(config, list(morphologies) * config["strategy"]["pop_size"])


def build(config: dict):
    """The Hebbian policy and the OpenAI-ES strategy of ``config``."""
    probe = make_env(config, ["standard"])
    policy = HebbianPolicy(probe.single_observation_space, probe.single_action_space, **config["policy"]["kwargs"])
    probe.close()
    strategy = STRATEGIES[config["strategy"]["name"]](
        num_params=policy.num_params, pop_size=config["strategy"]["pop_size"], seed=config["seed"],
        device=config["device"], **config["strategy"]["kwargs"],
    )
    return policy, strategy


def generation_seed(run_seed: int, generation: int) -> int:
    return (run_seed * 1_000_003 + generation * 7_919) % (2**31 - 1)


def evolve_rules(config: dict, policy: HebbianPolicy, strategy, morphologies: list[str], run_dir: Path) -> list[dict]:
    """ask -> rollout (every individual, one lifetime per morphology) -> tell; one metrics.csv row per generation."""
    env = training_env(config, morphologies)
    columns = ["generation", "best", "mean", "median", "worst", "best_ever", "env_steps", "wall_s"]
    rows, env_steps, start = [], 0, time.perf_counter()
    with (run_dir / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for generation in range(config["generations"]):
            params = strategy.ask()
            fitness, stats = rollout(env, policy, params, num_episodes=len(morphologies),
                                     seed=generation_seed(config["seed"], generation),
                                     early_stop=config["rollout"]["early_stop"], return_stats=True)
            metrics = strategy.tell(params, fitness)
            env_steps += stats["env_steps"]
            row = {**metrics, "generation": generation, "env_steps": env_steps,
                   "wall_s": round(time.perf_counter() - start, 1)}
            writer.writerow(row)
            f.flush()
            rows.append(row)
            print(f"gen {generation:>3}  mean {metrics['mean']:8.1f}  best {metrics['best']:8.1f}  "
                  f"{env_steps:>9,} env steps  {row['wall_s']:7.1f} s", flush=True)
    env.close()
    return rows


def evaluate(config: dict, policy: HebbianPolicy, params: torch.Tensor, morphology: str, episodes: int,
             seed: int) -> dict[str, torch.Tensor]:
    """``{"progress": [episodes], "metres": [episodes]}`` of ``params [1 or episodes, D]`` on ``morphology``.

    One lifetime per row, fresh random weights each, run to the time limit in both reward modes; the Hebbian
    rules ignore the reward, so the two runs (same seed) are the same trajectories.
    """
    params = params.expand(episodes, -1)
    out = {}
    for key, reward in (("progress", "progress"), ("metres", "distance")):
        env = make_env(config, [morphology] * episodes, reward=reward)
        out[key] = rollout(env, policy, params, num_episodes=1, seed=seed)
        env.close()
    return out


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args)
    morphologies = [name.strip() for name in args.morphologies.split(",") if name.strip()]
    policy, strategy = build(config)
    kwargs = config["env"]["kwargs"]
    print(f"{config['env']['id']} {kwargs}; training morphologies {morphologies}, one lifetime each")
    print(f"policy: Hebbian {config['policy']['kwargs']['rule']}, {policy.num_params:,} evolved coefficients; "
          f"strategy: {config['strategy']['name']} pop {strategy.pop_size}, {config['generations']} generations")

    run_dir = Path(args.run_dir)
    if (run_dir / "metrics.csv").exists():
        raise SystemExit(f"{run_dir} already holds a run (metrics.csv); pass another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    curve = evolve_rules(config, policy, strategy, morphologies, run_dir)
    rules = strategy.center.detach().cpu()
    torch.save({"params": rules, "config": config, "morphologies": morphologies}, run_dir / "rules.pt")
    print(f"evolved in {curve[-1]['wall_s'] / 60:.1f} min, {curve[-1]['env_steps']:,} env steps -> {run_dir}")

    k = max(1, len(curve) // 5)
    first = sum(r["mean"] for r in curve[:k]) / k
    last = sum(r["mean"] for r in curve[-k:]) / k
    print(f"population mean fitness (seed units, mean over the training morphologies): "
          f"first {k} generations {first:.1f}, last {k} generations {last:.1f}")

    generator = torch.Generator(device=config["device"]).manual_seed(args.eval_seed)
    random_rules = torch.randn(args.eval_episodes, policy.num_params, generator=generator, device=config["device"])
    evolved_rules = rules.to(config["device"]).reshape(1, -1)
    steps = kwargs.get("max_episode_steps", 1000)
    print(f"evaluation: {args.eval_episodes} fresh lifetimes of {steps} steps per morphology (no early stop), "
          "seed units (sum of pybullet progress) and metres along +x, mean ± std")
    for morphology, note in EVAL_MORPHOLOGIES:
        evolved = evaluate(config, policy, evolved_rules, morphology, args.eval_episodes, args.eval_seed)
        baseline = evaluate(config, policy, random_rules, morphology, args.eval_episodes, args.eval_seed)
        print(f"  {morphology:<14} ({note:<8}): evolved {evolved['progress'].mean():7.1f} ± {evolved['progress'].std():5.1f}"
              f" ({evolved['metres'].mean():6.2f} ± {evolved['metres'].std():.2f} m)   random rules "
              f"{baseline['progress'].mean():7.1f} ± {baseline['progress'].std():5.1f}"
              f" ({baseline['metres'].mean():6.2f} ± {baseline['metres'].std():.2f} m)")


if __name__ == "__main__":
    main()
