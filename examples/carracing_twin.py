"""CarRacing from pixels, evolved on the torch twin MetaRL/CarRacing-v0, scored on Gymnasium's CarRacing-v3 itself.

    python examples/carracing_twin.py hebbian         # Hebbian ABCD_lr (OpenAI-ES, the seed's preset)
    python examples/carracing_twin.py hebbian_static  # the same network and genome, plasticity off
    python examples/carracing_twin.py cnn_static      # a static CNN+MLP evolved with the same ES and budget
    python examples/carracing_twin.py ga              # ga-openai-gym's GA on its conv net

Each mode evolves ``examples/configs/pixels/<config>.yaml`` on the twin in ``--run-dir`` (a run already there is
resumed, so a longer run continues across sessions; ``--time-limit`` seconds stops it cleanly with a checkpoint,
``--generations`` raises the target), then scores the solution (ES: the mean; GA: the best-ever individual) on
``--tracks`` held-out tracks, one 1,000-step episode each, no early stop, on CarRacing-v3 itself and on the twin with
the same tracks (the same rollout keys give both the same track; evaluation keys never used in training). Written
to ``<run-dir>/heldout.json``; examples/RESULTS.md holds the measured figures. Needs the box2d extra.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path

import torch
import yaml

from metarl_gym.config import apply_overrides
from metarl_gym.envs import make
from metarl_gym.evolution.rollout import EarlyStop, rollout
from metarl_gym.evolution.runner import RunInterrupted, build_policy, evolve, resume

CONFIGS = Path(__file__).parent / "configs" / "pixels"
MODES = {
    "hebbian": ("hebbian_carracing_twin.yaml", []),
    "hebbian_static": ("hebbian_carracing_twin.yaml", ["policy.kwargs.plasticity=false"]),
    "cnn_static": ("cnn_carracing_twin.yaml", []),
    "ga": ("ga_carracing_twin.yaml", []),
}
HELDOUT_KEY = 7_000_003  # held-out track i: rollout key of individual i under this seed (training keys differ)


def heldout(config: dict, params: torch.Tensor, env_id: str, max_steps: int, patience: int | None) -> list[float]:
    """One episode (at most ``max_steps``) per row of ``params [tracks, D]`` on ``env_id``; ``patience``: cut it
    after that many consecutive negative rewards (None: no early stop)."""
    tracks = params.shape[0]
    if env_id == "CarRacing-v3":
        env = make(env_id, tracks, vectorization_mode="sync", max_episode_steps=max_steps)
    else:
        kwargs = {k: v for k, v in config["env"]["kwargs"].items() if k not in ("compile", "max_episode_steps")}
        env = make(env_id, tracks, max_episode_steps=max_steps, **kwargs)
    policy = build_policy(config, env)
    early = None if patience is None else EarlyStop(patience=patience)
    returns = rollout(env, policy, params, seed=HELDOUT_KEY, engine="loop", early_stop=early)
    env.close()
    return returns.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--run-dir", default=None, help="default: runs/twin_<mode>")
    parser.add_argument("--generations", type=int, default=None)
    parser.add_argument("--pop", type=int, default=None)
    parser.add_argument("--tracks", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=None, help="seconds of evolution before a clean stop")
    parser.add_argument("--skip-reference", action="store_true", help="score on the twin only")
    parser.add_argument("--max-steps", type=int, default=1000, help="held-out episode length (1,000 as registered)")
    parser.add_argument("--heldout-patience", type=int, default=None,
                        help="cut held-out episodes after this many consecutive negative rewards (default: never)")
    parser.add_argument("--score-only", action="store_true", help="no evolution: score the run's best.pt")
    args = parser.parse_args()

    name, overrides = MODES[args.mode]
    config = yaml.safe_load((CONFIGS / name).read_text())
    if args.generations is not None:
        overrides = [*overrides, f"generations={args.generations}"]
    if args.pop is not None:
        overrides = [*overrides, f"strategy.pop_size={args.pop}"]
    config = apply_overrides(config, overrides)
    run_dir = Path(args.run_dir or f"runs/twin_{args.mode}")

    if args.time_limit:
        signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
        signal.setitimer(signal.ITIMER_REAL, args.time_limit)
    start = time.time()
    try:
        if args.score_only:
            summary = {}
        elif (run_dir / "checkpoint.pt").exists():
            summary = resume(run_dir, progress=False, generations=args.generations)
        else:
            summary = evolve(config, run_dir, progress=False)
    except RunInterrupted as stop:  # the time box (or Ctrl-C): score what best.pt holds so far
        print(stop, flush=True)
        summary = {}
    signal.setitimer(signal.ITIMER_REAL, 0)
    train_s = time.time() - start

    lines = (run_dir / "metrics.csv").read_text().strip().splitlines()
    header = lines[0].split(",")
    curve = [dict(zip(header, line.split(","))) for line in lines[1:]]
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    best = torch.load(run_dir / "best.pt", weights_only=True)
    solution = best["params"].float().unsqueeze(0).repeat(args.tracks, 1)

    start = time.time()
    twin = heldout(resolved, solution, resolved["env"]["id"], args.max_steps, args.heldout_patience)
    twin_s = time.time() - start
    real = None if args.skip_reference else heldout(resolved, solution, "CarRacing-v3", args.max_steps, args.heldout_patience)
    real_s = time.time() - start - twin_s
    t = torch.tensor(twin)
    result = {
        "mode": args.mode, "config": name, "overrides": overrides,
        "pop": resolved["strategy"]["pop_size"], "generations_run": len(curve),
        "env_steps": int(float(curve[-1]["env_steps"])) if curve and "env_steps" in curve[-1] else summary.get("env_steps"),
        "train_wall_s_this_session": round(train_s, 1), "twin_eval_s": round(twin_s, 1), "real_eval_s": round(real_s, 1),
        "best_training_fitness": best.get("fitness"),
        "curve": [{k: row[k] for k in row if k in ("generation", "best", "mean", "fitness_max", "fitness_mean", "env_steps")} for row in curve],
        "heldout_tracks": args.tracks, "heldout_key": HELDOUT_KEY, "heldout_max_steps": args.max_steps,
        "heldout_patience": args.heldout_patience,
        "twin": twin, "twin_mean": float(t.mean()), "twin_std": float(t.std()),
    }
    if real is not None:
        r = torch.tensor(real)
        result.update(real=real, real_mean=float(r.mean()), real_std=float(r.std()))
    (run_dir / "heldout.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in ("curve", "twin", "real")}, indent=1))


if __name__ == "__main__":
    main()
