"""The MetaRL learned learning rule on the double pendulum: a GA evolves a rule that trains a random actor online.

Re-implementation of ASFaust/MetaRL at laptop scale. Every lifetime starts a [6, 8, 8, 1] stochastic tanh actor from
random weights; after every step, three tiny recurrent networks (the learning rule, 520 floats: the genome) update
its weights, biases and noise levels from the reward (height of the two masses). A lifetime is several episodes
(4 x 250 steps in the config); the actor and the rule's states carry over between them, and every episode starts
upright again. A GA (truncation survivors kept unmutated, sparse gaussian mutation, no crossover) evolves the rule;
fitness is the mean episode return of one lifetime.

Then the script measures within-lifetime learning: the episode returns of many fresh lifetimes (new random actor,
fresh rule state), summed over the first and the second half of the lifetime's episodes, for the evolved rule and
for random rules N(0, 0.1²) (the GA's starting point). Every episode starts from the same distribution, so only
what the actor learned earlier in its lifetime can make the second half earn more than the first.

The evolution is a ``metarl-gym evolve`` run (metrics.csv, checkpoints, best.pt):

    metarl-gym evolve examples/configs/learned_rule_double_pendulum.yaml --run-dir runs/learned_rule_dp

Run:
    python examples/learned_rule_double_pendulum.py                    # evolve, then measure (a few minutes)
    python examples/learned_rule_double_pendulum.py --run-dir runs/lr_smoke generations=2   # a smoke run
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

import metarl_gym  # noqa: F401  (registers the MetaRL ids)
from metarl_gym.config import apply_overrides, load_yaml, resolve_evolve_config
from metarl_gym.evolution.evaluate import Evaluator, load_solution
from metarl_gym.evolution.runner import evolve
from metarl_gym.keys import key


def episode_returns(config: dict, params: torch.Tensor, seed: int) -> torch.Tensor:
    """Episode returns ``[episodes, rows]`` of one lifetime per row of ``params [rows, D]`` (fresh actor each),
    lifetime j keyed ``key(seed, j)``.

    The lifetime is ``config["episodes"]`` episodes played in sequence, as every evaluation plays a plastic
    policy: the policy state (actor weights, rule states) carries over, the env restarts.
    """
    evaluator = Evaluator(config)
    _, stats = evaluator.evaluate(params, key(seed, torch.arange(params.shape[0], device=params.device)))
    evaluator.close()
    return stats["episode_returns"].T.cpu()


def halves(returns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns summed over the first and the second half of each lifetime's episodes, ``[rows]`` each."""
    half = returns.shape[0] // 2
    return returns[:half].sum(0), returns[half : 2 * half].sum(0)


def report(name: str, returns: torch.Tensor) -> dict[str, float]:
    first, second = halves(returns)
    gain = second - first
    n = gain.numel()
    out = {"episodes": [round(float(r), 1) for r in returns.mean(1)], "first": float(first.mean()),
           "second": float(second.mean()), "gain": float(gain.mean()), "gain_se": float(gain.std() / n**0.5),
           "frac_up": float((gain > 0).double().mean())}
    print(f"  {name:<24} episode means {out['episodes']}   first half {out['first']:7.1f}   second half "
          f"{out['second']:7.1f}   second - first {out['gain']:+6.1f} ± {out['gain_se']:.1f} (s.e.)   "
          f"lifetimes improving {out['frac_up']:.0%}")
    return out


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=Path(__file__).parent / "configs" / "learned_rule_double_pendulum.yaml",
                        help="YAML config: env, policy, strategy, generations, episodes, seed, device")
    parser.add_argument("--run-dir", default="runs/learned_rule_dp",
                        help="run directory (must not hold a run yet; `metarl-gym evolve --resume DIR` continues one)")
    parser.add_argument("--lifetimes", type=int, default=200, help="fresh lifetimes of the evolved rule in the measurement")
    parser.add_argument("--random-rules", type=int, default=200, help="random rules N(0, init_std²) to compare with (one lifetime each)")
    parser.add_argument("--eval-seed", type=int, default=12345, help="seed of the measurement (never used in training)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. generations=2 seed=1")
    args = parser.parse_args(argv)

    config = resolve_evolve_config(apply_overrides(load_yaml(args.config), args.overrides))
    s = config["strategy"]
    print(f"{config['env']['id']} {config['env']['kwargs']}; learned rule {config['policy']['kwargs']}; "
          f"GA pop {s['pop_size']} {s['kwargs']}; {config['generations']} generations")

    run_dir = Path(args.run_dir)
    start = time.perf_counter()
    evolve(config, run_dir)
    print(f"evolved in {time.perf_counter() - start:.0f} s -> {run_dir}")

    # (a) the learning curve of the GA (the elites are re-scored every generation with new random actors)
    with (run_dir / "metrics.csv").open() as f:
        curve = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
    every = max(1, len(curve) // 10)
    print("generation      best      mean    median")
    for row in curve[::every] + ([curve[-1]] if (len(curve) - 1) % every else []):
        print(f"{int(row['generation']):>10}  {row['best']:8.1f}  {row['mean']:8.1f}  {row['median']:8.1f}")

    # (b) within-lifetime learning: evolved rule vs random rules
    _, best = load_solution(run_dir)
    policy = Evaluator(config).policy
    generator = torch.Generator(device=config["device"]).manual_seed(args.eval_seed + 1)
    random_rules = policy.random_params(args.random_rules, generator=generator, device=config["device"])
    steps = config["env"]["kwargs"].get("max_episode_steps")
    print(f"within-lifetime learning: returns of a lifetime of {config['episodes']} x {steps}-step episodes, "
          "summed over each half of its episodes (means over lifetimes)")
    return {
        "evolved": report(f"evolved rule ({args.lifetimes} lives)", episode_returns(config, best.reshape(1, -1).expand(args.lifetimes, -1), args.eval_seed)),
        "random": report(f"random rules ({args.random_rules})", episode_returns(config, random_rules, args.eval_seed)),
    }


if __name__ == "__main__":
    torch.set_num_threads(1)  # small per-step kernels: one thread is fastest on a shared 2-core machine
    main()
