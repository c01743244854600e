"""CarRacing-v3 from pixels, each seed's experiment against its control, at a laptop budget.

    python examples/carracing.py ga               # ga-openai-gym: GA over a 787,027-parameter conv net
    python examples/carracing.py hebbian          # HebbianMetaLearning: ABCD_lr rules on a random network
    python examples/carracing.py hebbian_static   # its control: the same net and genome, plasticity off

Each mode runs `metarl-gym evolve` on examples/configs/pixels/<config>.yaml (``--generations`` / ``--pop``
override the budget), then scores on held-out tracks (lifetime j keyed ``key(HELDOUT_SEED, j)``: tracks the run
never saw, the same tracks for the solution and the control):

- the solution (best.pt), once per track;
- the control's random networks: as many fresh genomes of the strategy's initial distribution as tracks,
  one each (for the GA: "random weights"; for the Hebbian modes: random coefficients / conv weights).

Everything is written to ``<run-dir>/heldout.json``; examples/RESULTS.md holds the measured figures. Needs the
box2d extra (``pip install -e .[box2d]``).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch

from metarl_gym.config import apply_overrides, load_yaml
from metarl_gym.evolution.evaluate import load_solution, score
from metarl_gym.evolution.runner import RunInterrupted, evolve

CONFIGS = Path(__file__).parent / "configs" / "pixels"
MODES = {
    "ga": ("ga_carracing.yaml", []),
    "hebbian": ("hebbian_carracing.yaml", []),
    "hebbian_static": ("hebbian_carracing.yaml", ["policy.kwargs.plasticity=false"]),
}
HELDOUT_SEED = 100_000  # the evaluation seed of the held-out tracks (training keys are (run seed, generation, index))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--run-dir", default=None, help="default: runs/carracing_<mode>")
    parser.add_argument("--generations", type=int, default=None)
    parser.add_argument("--pop", type=int, default=None)
    parser.add_argument("--tracks", type=int, default=8, help="held-out tracks")
    parser.add_argument("--max-steps", type=int, default=None, help="episode cap (config: 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    name, overrides = MODES[args.mode]
    overrides = [*overrides, f"seed={args.seed}"]
    if args.generations is not None:
        overrides.append(f"generations={args.generations}")
    if args.max_steps is not None:
        overrides.append(f"env.kwargs.max_episode_steps={args.max_steps}")
    if args.pop is not None:
        overrides.append(f"strategy.pop_size={args.pop}")
    config = apply_overrides(load_yaml(CONFIGS / name), overrides)
    run_dir = Path(args.run_dir or f"runs/carracing_{args.mode}")

    start = time.time()
    try:
        evolve(config, run_dir, progress=False)
    except RunInterrupted as stop:  # SIGTERM / Ctrl-C time-boxes the run: score what best.pt holds so far
        print(stop, flush=True)
    train_s = time.time() - start
    with open(run_dir / "metrics.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]

    # Held-out tracks: the solution on each, and the control's random genomes, one per track, on the same tracks.
    config, solution = load_solution(run_dir)
    init_std = float(config["strategy"]["kwargs"].get("init_std", 1.0))
    generator = torch.Generator().manual_seed(12345)
    random_genomes = torch.randn(args.tracks, solution.numel(), generator=generator) * init_std
    start = time.time()
    evolved = score(config, solution, args.tracks, HELDOUT_SEED, static_episodes=1)  # track j: key(HELDOUT_SEED, j)
    control = score(config, random_genomes.to(config["device"]), args.tracks, HELDOUT_SEED, static_episodes=1)  # genome j on track j
    result = {
        "mode": args.mode,
        "config": name,
        "overrides": overrides,
        "pop": config["strategy"]["pop_size"],
        "generations": config["generations"],
        "generations_run": int(last["generation"]) + 1,
        "env_steps": int(float(last["env_steps"])),
        "train_wall_s": round(train_s, 1),
        "eval_wall_s": round(time.time() - start, 1),
        "best_training_fitness": float(last["best_ever"]),
        "heldout_tracks": args.tracks,
        "evolved_heldout": evolved.tolist(),
        "evolved_mean": float(evolved.mean()),
        "evolved_std": float(evolved.std()),
        "random_heldout": control.tolist(),
        "random_mean": float(control.mean()),
        "random_std": float(control.std()),
    }
    (run_dir / "heldout.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("heldout")}, indent=1))
    return result


if __name__ == "__main__":
    torch.set_num_threads(1)  # tiny batches on a shared CPU: one thread avoids OpenMP stalls
    main()
