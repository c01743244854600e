"""The ``metarl-gym`` command: envs, show, evolve, evaluate, plot, baseline."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metarl-gym", description="Meta-RL and neuroevolution on batched Gymnasium envs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("envs", help="list the registered MetaRL env ids with their spaces")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("show", help="write an animated GIF of a passive or random rollout")
    p.add_argument("env_id")
    p.add_argument("--out", required=True, help="output .gif file")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--policy", choices=["passive", "random"], default="passive", help="zero actions (passive) or random ones")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--every", type=int, default=1, help="keep every k-th frame")
    p.add_argument("--env-kwargs", default="{}", help="JSON dict of env kwargs, e.g. '{\"damping\": 0.0}'")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("evolve", help="run (or resume) an evolution experiment from a YAML config")
    p.add_argument("config", nargs="?", help="YAML config; without it, a GA on MetaRL/CartPole-v1")
    p.add_argument("overrides", nargs="*", help="key.path=value overrides, e.g. strategy.pop_size=64")
    p.add_argument("--run-dir", help="run directory (default runs/<config name>-<time>)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_evolve)

    p = sub.add_parser("evaluate", help="evaluate the solution of a run (best.pt: the best individual, or the ES / CMA-ES mean)")
    p.add_argument("run_dir")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--gif", help="also write a GIF of one episode")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("plot", help="plot best and mean fitness of one or more runs on one figure")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", required=True, help="output image (.png)")
    p.add_argument("--x", choices=["generation", "env_steps", "wall_s"], default=None, help="x axis (default: generation if every run has it, else env_steps)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("baseline", help="train a Stable-Baselines3 baseline on the same env")
    p.add_argument("config", help="YAML config")
    p.add_argument("overrides", nargs="*", help="key.path=value overrides")
    p.add_argument("--run-dir", help="run directory (default runs/<config name>-<time>)")
    p.set_defaults(func=cmd_baseline)

    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come before or after the options
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "config", None) and "=" in args.config and args.command == "evolve":
        args.overrides, args.config = [args.config, *args.overrides], None  # `metarl-gym evolve key=value`
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"metarl-gym {args.command}: error: {error}", file=sys.stderr)
        return 2


def _default_run_dir(config_path: str | None) -> Path:
    name = Path(config_path).stem if config_path else "default"
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


# ---------------------------------------------------------------- envs / show
def cmd_envs(args) -> int:
    import gymnasium as gym

    import metarl_gym  # noqa: F401

    ids = sorted(i for i in gym.registry if i.startswith("MetaRL/"))
    width = max(len(i) for i in ids)
    for env_id in ids:
        spec = gym.spec(env_id)
        try:
            env = gym.make(env_id)
            line = f"{env_id:<{width}}  obs {env.observation_space}  action {env.action_space}  max_steps {spec.max_episode_steps}"
            env.close()
        except Exception as error:  # an optional dependency missing must not hide the other ids
            line = f"{env_id:<{width}}  (cannot be built here: {error})"
        print(line)
    return 0


def cmd_show(args) -> int:
    import gymnasium as gym

    import metarl_gym  # noqa: F401

    if args.env_id not in gym.registry:
        raise ValueError(f"unknown env id {args.env_id!r}; `metarl-gym envs` lists the available ids")
    env = gym.make(args.env_id, render_mode="rgb_array", **json.loads(args.env_kwargs))
    env.reset(seed=args.seed)
    env.action_space.seed(args.seed)
    frames = [env.render()]
    for t in range(args.steps):
        if args.policy == "random":
            action = env.action_space.sample()
        else:
            action = _passive_action(env.action_space)
        _, _, terminated, truncated, _ = env.step(action)
        if t % args.every == 0:
            frames.append(env.render())
        if terminated or truncated:
            break
    env.close()
    write_gif(frames, args.out, fps=env.metadata.get("render_fps", 20) / args.every)
    print(f"wrote {len(frames)} frames to {args.out}")
    return 0


def _passive_action(space):
    import gymnasium as gym

    if isinstance(space, gym.spaces.Discrete):
        return int(space.start)
    return np.zeros(space.shape, dtype=space.dtype)


def write_gif(frames: list[np.ndarray], path: str | Path, fps: float = 20) -> None:
    """Write ``frames`` (each ``[H, W, 3]`` uint8) as an animated GIF."""
    from PIL import Image

    if not frames:
        raise ValueError("no frames to write")
    images = [Image.fromarray(np.asarray(f)) for f in frames]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(20, int(1000 / fps)), loop=0)


# ---------------------------------------------------------------- evolve / evaluate
def cmd_evolve(args) -> int:
    from .config import apply_overrides, load_yaml
    from .evolution.runner import evolve, resume

    if args.resume:
        if args.config:
            raise ValueError("--resume DIR continues an existing run; do not pass a config with it")
        summary = resume(args.resume, progress=not args.no_progress)
    else:
        config = load_yaml(args.config) if args.config else {}
        config = apply_overrides(config, args.overrides)
        run_dir = Path(args.run_dir) if args.run_dir else _default_run_dir(args.config)
        summary = evolve(config, run_dir, progress=not args.no_progress)
    print(f"best fitness {summary['best_fitness']:.4g} (generation {summary['best_generation']}), "
          f"{summary['env_steps']} env steps in {summary['wall_s']:.1f} s -> {summary['run_dir']}")
    return 0


def load_best(run_dir: str | Path):
    """``(config, params [1, D])`` of a run's solution (best.pt)."""
    from .config import load_yaml, resolve_evolve_config

    run_dir = Path(run_dir)
    if not (run_dir / "best.pt").exists():
        raise FileNotFoundError(f"{run_dir} has no best.pt; is it an evolve run directory that finished a generation?")
    config = resolve_evolve_config(load_yaml(run_dir / "config.yaml"))
    best = torch.load(run_dir / "best.pt", map_location=config["device"], weights_only=False)
    return config, best["params"].reshape(1, -1).to(config["device"])


def evaluate_run(run_dir: str | Path, episodes: int = 10, seed: int = 12345) -> dict:
    """Returns of the best individual: ``episodes`` independent lifetimes (each of the config's length)."""
    from .evolution.rollout import rollout
    from .evolution.runner import build_env, build_policy

    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    config, params = load_best(run_dir)
    env = build_env(config, episodes)
    policy = build_policy(config, env)
    lifetime = config["episodes"] if getattr(policy, "plastic", False) else 1
    returns = rollout(env, policy, params.expand(episodes, -1), num_episodes=lifetime, seed=seed)
    env.close()
    returns = returns.double().cpu().numpy()
    return {
        "run_dir": str(run_dir),
        "env_id": config["env"]["id"],
        "episodes": episodes,
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "min_return": float(returns.min()),
        "max_return": float(returns.max()),
        "returns": [float(r) for r in returns],
    }


def record_episode(run_dir: str | Path, path: str | Path, seed: int = 12345, max_frames: int = 300) -> int:
    """Write a GIF of one episode of the best individual; returns the number of frames."""
    from .evolution.runner import build_env, build_policy

    config, params = load_best(run_dir)
    env = build_env(config, 1, render_mode="rgb_array")
    policy = build_policy(config, env)
    generator = torch.Generator(device=params.device).manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    state = policy.initial_state(params, generator)
    frames, t = [env.render()], 0
    horizon = env.unwrapped.max_episode_steps if getattr(env.unwrapped, "max_episode_steps", None) else 1000
    every = max(1, horizon // max_frames)
    with torch.no_grad():
        while True:
            actions, state = policy.act(params, obs, state)
            obs, rewards, terminated, truncated, _ = env.step(actions)
            state = policy.learn(params, state, rewards)
            t += 1
            if t % every == 0:
                frames.append(env.render())
            if bool(terminated[0]) or bool(truncated[0]) or t >= horizon:
                break
    env.close()
    write_gif(frames, path, fps=20)
    return len(frames)


def cmd_evaluate(args) -> int:
    result = evaluate_run(args.run_dir, args.episodes, args.seed)
    if args.gif:
        result["gif_frames"] = record_episode(args.run_dir, args.gif, seed=args.seed)
        result["gif"] = args.gif
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['env_id']}: mean return {result['mean_return']:.4g} ± {result['std_return']:.3g} over {args.episodes} episodes")
        if args.gif:
            print(f"wrote {result['gif_frames']} frames to {args.gif}")
    return 0


# ---------------------------------------------------------------- plot / baseline
def read_metrics(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Columns of a run's metrics.csv as float arrays."""
    import csv

    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; is {run_dir} a metarl-gym run directory?")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path} has no rows yet")
    return {key: np.array([float(r[key]) if r[key] not in ("", None) else np.nan for r in rows]) for key in rows[0]}


def cmd_plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(Path(d), read_metrics(d)) for d in args.run_dirs]
    x_key = args.x or ("generation" if all("generation" in m for _, m in runs) else "env_steps")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (run_dir, metrics) in enumerate(runs):
        if x_key not in metrics:
            raise ValueError(f"{run_dir}/metrics.csv has no column {x_key!r}; use --x with one of {sorted(metrics)}")
        color = f"C{i}"
        if "best" in metrics:
            ax.plot(metrics[x_key], metrics["best"], color=color, label=f"{run_dir.name} best")
        ax.plot(metrics[x_key], metrics["mean"], color=color, linestyle="--", label=f"{run_dir.name} mean")
    ax.set_xlabel(x_key.replace("_", " "))
    ax.set_ylabel("return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return 0


def cmd_baseline(args) -> int:
    from .baselines.run import run_baseline
    from .config import apply_overrides, load_yaml

    config = apply_overrides(load_yaml(args.config), args.overrides)
    run_dir = Path(args.run_dir) if args.run_dir else _default_run_dir(args.config)
    summary = run_baseline(config, run_dir)
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
