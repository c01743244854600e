"""CarRacing-v3 from pixels, each seed's experiment against its control, at a laptop budget.

    python examples/carracing.py ga               # ga-openai-gym: GA over a 787,027-parameter conv net
    python examples/carracing.py hebbian          # HebbianMetaLearning: ABCD_lr rules on a random network
    python examples/carracing.py hebbian_static   # its control: the same net and genome, plasticity off

Each mode runs `metarl-gym evolve` on examples/configs/pixels/<config>.yaml (``--generations`` / ``--pop``
override the budget), then scores on held-out tracks (reset seeds the run never saw):

- the solution (best.pt), once per track;
- the control's random networks: as many fresh genomes of the strategy's initial distribution as tracks,
  one each (for the GA: "random weights"; for the Hebbian modes: random coefficients / conv weights).

Everything is written to ``<run-dir>/heldout.json``; examples/RESULTS.md holds the measured figures. Needs the
box2d extra (``pip install -e .[box2d]``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from metarl_gym.config import apply_overrides
from metarl_gym.envs import make
from metarl_gym.evolution import EarlyStop, rollout
from metarl_gym.evolution.runner import RunInterrupted, build_policy, evolve

CONFIGS = Path(__file__).parent / "configs" / "pixels"
MODES = {
    "ga": ("ga_carracing.yaml", []),
    "hebbian": ("hebbian_carracing.yaml", []),
    "hebbian_static": ("hebbian_carracing.yaml", ["policy.kwargs.plasticity=false"]),
}
HELDOUT_SEED = 100_000  # track i of the held-out set is reset seed HELDOUT_SEED + i (training seeds are < 2**31 - 1, drawn per generation)

def heldout_scores(config: dict, params: torch.Tensor, tracks: int) -> torch.Tensor:
    """Return of each genome row ``params [tracks, D]`` on held-out track ``i`` (one episode each)."""
    env = make(config["env"]["id"], tracks, **config["env"]["kwargs"])
    policy = build_policy(config, env)
    early = config["rollout"]["early_stop"]
    fitness = rollout(env, policy, params, seed=HELDOUT_SEED, early_stop=EarlyStop(**early) if early else None)
    env.close()
    return fitness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--run-dir", default=None, help="default: runs/carracing_<mode>")
    parser.add_argument("--generations", type=int, default=None)
    parser.add_argument("--pop", type=int, default=None)
    parser.add_argument("--tracks", type=int, default=8, help="held-out tracks")
    parser.add_argument("--max-steps", type=int, default=None, help="episode cap (config: 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)  # tiny batches on a shared CPU: one thread avoids OpenMP stalls
    name, overrides = MODES[args.mode]
    config = yaml.safe_load((CONFIGS / name).read_text())
    overrides = [*overrides, f"seed={args.seed}"]
    if args.generations is not None:
        overrides.append(f"generations={args.generations}")
    if args.max_steps is not None:
        overrides.append(f"env.kwargs.max_episode_steps={args.max_steps}")
    if args.pop is not None:
        overrides.append(f"strategy.pop_size={args.pop}")
    config = apply_overrides(config, overrides)
    run_dir = Path(args.run_dir or f"runs/carracing_{args.mode}")

    start = time.time()
    try:
        summary = evolve(config, run_dir, progress=False)
    except RunInterrupted as stop:  # SIGTERM / Ctrl-C time-boxes the run: score what best.pt holds so far
        print(stop, flush=True)
        summary = {}
    train_s = time.time() - start
    lines = (run_dir / "metrics.csv").read_text().strip().splitlines()
    last = dict(zip(lines[0].split(","), lines[-1].split(",")))
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    best = torch.load(run_dir / "best.pt", weights_only=True)
    solution = best["params"].float().unsqueeze(0).repeat(args.tracks, 1)

    env = make(resolved["env"]["id"], 1, **resolved["env"]["kwargs"])
    policy = build_policy(resolved, env)
    env.close()
    init_std = float(resolved["strategy"]["kwargs"].get("init_std", 1.0))
    generator = torch.Generator().manual_seed(12345)
    random_genomes = torch.randn(args.tracks, policy.num_params, generator=generator) * init_std

    start = time.time()
    evolved = heldout_scores(resolved, solution, args.tracks)
    control = heldout_scores(resolved, random_genomes, args.tracks)
    result = {
        "mode": args.mode,
        "config": name,
        "overrides": overrides,
        "pop": resolved["strategy"]["pop_size"],
        "generations": resolved["generations"],
        "generations_run": int(last["generation"]) + 1,
        "env_steps": summary.get("env_steps", int(float(last["env_steps"]))),
        "train_wall_s": round(train_s, 1),
        "eval_wall_s": round(time.time() - start, 1),
        "best_training_fitness": best["fitness"],
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


if __name__ == "__main__":
    main()
