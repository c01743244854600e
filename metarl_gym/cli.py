"""The ``metarl-gym`` command: envs, show, evolve, evaluate, plot, baseline, er-mrl."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np


SEED_MAX = 2**63 - 1
"""Largest seed (as ``metarl_gym.config.SEED_MAX``; not imported, so ``metarl-gym --help`` stays light)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2): ``metarl-gym evaluate: error: argument --seed: ...``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _int_arg(minimum: int, maximum: int | None = None):
    """An argparse ``type``: an integer in ``[minimum, maximum]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            try:  # 1e6: an integer written in float notation (exact up to 2**53)
                number = float(text)
            except ValueError:
                number = math.nan
            if not (math.isfinite(number) and number.is_integer() and abs(number) <= 2**53):
                raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
            value = int(number)
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"must be an integer {bounds}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


_SEED = _int_arg(0, SEED_MAX)
_POSITIVE = _int_arg(1)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="metarl-gym", description="Meta-RL and neuroevolution on batched Gymnasium envs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("envs", help="list the registered MetaRL env ids with their spaces")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("show", help="write an animated GIF of a passive or random rollout")
    p.add_argument("env_id")
    p.add_argument("--out", required=True, help="output .gif file")
    p.add_argument("--steps", type=_POSITIVE, default=200)
    p.add_argument("--policy", choices=["passive", "random"], default="passive", help="zero actions (passive) or random ones")
    p.add_argument("--seed", type=_SEED, default=0)
    p.add_argument("--every", type=_POSITIVE, default=1, help="keep every k-th frame")
    p.add_argument("--env-kwargs", default="{}", help="JSON dict of env kwargs, e.g. '{\"damping\": 0.0}'")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("evolve", help="run (or resume) an evolution experiment from a YAML config")
    p.add_argument("config", nargs="?", help="YAML config; without it, a GA on MetaRL/CartPole-v1")
    p.add_argument("overrides", nargs="*", help="key.path=value overrides, e.g. strategy.pop_size=64")
    p.add_argument("--run-dir", help="run directory (default runs/<config name>-<time>)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint (generations=N extends it)")
    p.add_argument("--overwrite", action="store_true", help="replace a run directory that holds another run or other files")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_evolve)

    p = sub.add_parser("evaluate", help="evaluate the solution of a run (best.pt: the best individual, or the ES / CMA-ES mean)")
    p.add_argument("run_dir")
    p.add_argument("--episodes", type=_POSITIVE, default=10)
    p.add_argument("--seed", type=_SEED, default=12345)
    p.add_argument("--gif", help="also write a GIF of one episode")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("plot", help="plot best and mean fitness of one or more runs on one figure")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", required=True, help="output image (.png)")
    p.add_argument("--x", choices=["generation", "env_steps", "wall_s"], default=None, help="x axis (default: generation if every run has it, else env_steps)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("baseline", help="train a Stable-Baselines3 baseline on the same env")
    p.add_argument("config", nargs="?", help="YAML config")
    p.add_argument("--resume", metavar="DIR", help="finish a killed baseline run in DIR (retrains from its stored config)")
    p.add_argument("overrides", nargs="*", help="key.path=value overrides")
    p.add_argument("--run-dir", help="run directory (default runs/<config name>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace a run directory that holds another run or other files")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("er-mrl", help="ER-MRL: CMA-ES over reservoir hyper-parameters around SB3 PPO, then a test against plain PPO")
    p.add_argument("config", nargs="?", help="ER-MRL YAML config, e.g. examples/configs/er_mrl_cartpole_masked.yaml")
    p.add_argument("overrides", nargs="*", help="key.path=value overrides, e.g. search.generations=5 workers=2")
    p.add_argument("--run-dir", help="run directory (default runs/<config name>-<time>; one holding the same study is resumed)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR with its stored config (search.generations=N "
                   "extends it; workers, threads and distributed.* may change)")
    p.add_argument("--overwrite", action="store_true", help="replace a run directory that holds another run or other files")
    p.add_argument("--no-test", action="store_true", help="skip the test protocol (best reservoir + PPO against plain PPO)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=cmd_er_mrl)

    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come before or after the options
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "config", None) and "=" in args.config and args.command in ("evolve", "er-mrl", "baseline"):
        args.overrides, args.config = [args.config, *args.overrides], None  # `metarl-gym evolve key=value`
    from .errors import UserError

    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print(f"metarl-gym {args.command}: interrupted", file=sys.stderr)
        return 130
    except (UserError, ValueError, FileNotFoundError, FileExistsError) as error:  # ValueError: checks in constructors
        signum = getattr(error, "signum", None)  # evolution.runner.RunInterrupted (not imported: `envs` stays light)
        if isinstance(error, UserError) and isinstance(signum, int):
            print(f"metarl-gym {args.command}: {error}", file=sys.stderr)
            return 128 + signum
        system = isinstance(error, OSError) and isinstance(error.errno, int)  # the system's, not a message of ours
        print(f"metarl-gym {args.command}: error: {_os_error_line(error) if system else _one_line(error)}", file=sys.stderr)
        return 2
    except OSError as error:  # an output the system refuses: a read-only file system, a directory, a full disk
        print(f"metarl-gym {args.command}: error: {_os_error_line(error)}", file=sys.stderr)
        return 2


def _os_error_line(error: OSError) -> str:
    """One line for an ``OSError`` that no command turned into a :class:`UserError` (``plot --out`` on a
    read-only file system was a traceback): the path, the system's reason and its errno name."""
    import errno

    name = errno.errorcode.get(error.errno, "") if isinstance(error.errno, int) else ""
    reason = (error.strerror or str(error)) + (f" ({name})" if name else "")
    if not error.filename:  # not a path (a connection, a pipe): the system's words and the error's kind
        return _one_line(f"{type(error).__name__}: {reason}")
    return _one_line(f"cannot write or read {error.filename}: {reason}; pick another path or make it writable")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 2000 else text[:2000] + " ..."


def _default_run_dir(config_path: str | None) -> Path:
    name = Path(config_path).stem if config_path else "default"
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


# ---------------------------------------------------------------- envs / show
def cmd_envs(args) -> int:
    import gymnasium as gym

    import metarl_gym  # noqa: F401

    from .envs.default_spaces import single_spaces

    ids = sorted(i for i in gym.registry if i.startswith("MetaRL/"))
    width = max(len(i) for i in ids)
    for env_id in ids:
        spec = gym.spec(env_id)
        try:
            spaces = single_spaces(env_id)  # known ids: without importing torch / pybullet (a second or more)
            if spaces is not None:
                observation_space, action_space = spaces
            else:
                env = gym.make(env_id)
                observation_space, action_space = env.observation_space, env.action_space
                env.close()
            line = f"{env_id:<{width}}  obs {observation_space}  action {action_space}  max_steps {spec.max_episode_steps}"
        except Exception as error:  # an optional dependency missing must not hide the other ids
            line = f"{env_id:<{width}}  (cannot be built here: {error})"
        print(line)
    return 0


def cmd_show(args) -> int:
    import gymnasium as gym

    import metarl_gym  # noqa: F401

    from tqdm.auto import tqdm

    from .envs.make import make
    from .envs.rendering import rgb_frame
    from .errors import UserError
    from .memory import check_gif_memory

    if args.env_id not in gym.registry:
        import difflib

        near = difflib.get_close_matches(args.env_id, sorted(gym.registry), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(i) for i in near)}? " if near else ""
        raise UserError(f"unknown env id {args.env_id!r}; {hint}`metarl-gym envs` lists the available ids")
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except ValueError as err:
        raise UserError(f"--env-kwargs must be a JSON object such as '{{\"damping\": 0.0}}' ({err})") from None
    if not isinstance(env_kwargs, dict):
        raise UserError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}")
    env = make(args.env_id, render_mode="rgb_array", **env_kwargs)
    env.reset(seed=args.seed)
    env.action_space.seed(args.seed)
    frames = [rgb_frame(env)]
    check_gif_memory(1 + (args.steps + args.every - 1) // args.every, frames[0].nbytes)
    for t in tqdm(range(args.steps), desc="show", unit="step", disable=args.no_progress, dynamic_ncols=True):
        if args.policy == "random":
            action = env.action_space.sample()
        else:
            action = _passive_action(env.action_space)
        _, _, terminated, truncated, _ = env.step(action)
        if t % args.every == 0:
            frames.append(rgb_frame(env))
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


def _make_parent(path: str | Path) -> None:
    """Create the folder an output file goes to; a file on the way is named (was "[Errno 17] File exists: 'f'")."""
    from .errors import UserError

    parent = Path(path).parent
    for folder in (parent, *parent.parents):
        if folder.exists() and not folder.is_dir():
            raise UserError(f"cannot write {path}: {folder} is a file, not a folder; pick another path")
    parent.mkdir(parents=True, exist_ok=True)


def write_gif(frames: list[np.ndarray], path: str | Path, fps: float = 20) -> None:
    """Write ``frames`` (each ``[H, W, 3]`` uint8, see :func:`~metarl_gym.envs.rendering.rgb_frame`) as an
    animated GIF."""
    from PIL import Image

    from .errors import UserError

    if not frames:
        raise UserError("no frames to write")
    arrays = [np.asarray(f) for f in frames]
    shape = arrays[0].shape
    for k, a in enumerate(arrays):
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 or a.shape != shape:
            raise UserError(f"GIF frame {k} is {a.dtype} {a.shape}; every frame must be an RGB image of the first "
                            f"frame's shape {shape}, uint8 (take frames with metarl_gym.envs.rendering.rgb_frame)")
    images = [Image.fromarray(a) for a in arrays]
    _make_parent(path)
    duration = min(max(20, int(1000 / fps)), 65_535)  # ms; a GIF frame delay is a 16-bit field (show --every 1e6)
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0)


# ---------------------------------------------------------------- evolve / evaluate
def cmd_evolve(args) -> int:
    from .config import apply_overrides, load_yaml
    from .evolution.runner import evolve, resume

    from .errors import UserError

    if args.resume:
        if args.config:
            raise UserError("--resume DIR continues an existing run with its own config.yaml; do not pass a config with it")
        if args.overwrite:
            raise UserError("--resume and --overwrite contradict each other: resume keeps the run, overwrite replaces it")
        extended = apply_overrides({}, args.overrides)
        other = sorted(set(extended) - {"generations"})
        if other:
            raise UserError(f"--resume accepts only generations=N (to extend the run), got {other[0]}=...; a resumed run "
                            "keeps the config it started with")
        summary = resume(args.resume, progress=not args.no_progress, generations=extended.get("generations"))
    else:
        config = load_yaml(args.config) if args.config else {}
        config = apply_overrides(config, args.overrides)
        run_dir = Path(args.run_dir) if args.run_dir else _default_run_dir(args.config)
        summary = evolve(config, run_dir, progress=not args.no_progress, overwrite=args.overwrite)
    if summary["best_generation"] < 0:  # was "best fitness -inf (generation -1)"
        print(f"no individual scored a finite fitness in {summary['generations']} generation(s) (NaN / inf returns, "
              f"outputs or genomes; metrics.csv counts them in num_nonfinite), so there is no best.pt; "
              f"{summary['env_steps']} env steps in {summary['wall_s']:.1f} s -> {summary['run_dir']}")
        return 0
    print(f"best fitness {summary['best_fitness']:.4g} (generation {summary['best_generation']}), "
          f"{summary['env_steps']} env steps in {summary['wall_s']:.1f} s -> {summary['run_dir']}")
    return 0


def evaluate_run(run_dir: str | Path, episodes: int = 10, seed: int = 12345, *, progress: bool = False) -> dict:
    """Returns of a run's solution over ``episodes`` fresh lifetimes (see :func:`metarl_gym.evolution.evaluate.score`):
    one episode each for a static policy, the config's lifetime of episodes for a plastic one."""
    from .errors import UserError
    from .evolution.evaluate import load_solution, score
    from .memory import check_evaluate_memory

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise UserError(f"--episodes must be an integer >= 1, got {episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise UserError(f"--seed must be an integer in [0, {SEED_MAX}], got {seed!r}")
    check_evaluate_memory(episodes)
    config, params = load_solution(run_dir)
    returns = score(config, params, episodes, seed, static_episodes=1, progress=progress).numpy()
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
    """Write a GIF of one episode of the best individual (lifetime 0 of ``evaluate --seed``); returns the number
    of frames."""
    import torch

    from .envs.rendering import rgb_frame
    from .evolution.engines import reset_seeds
    from .evolution.evaluate import build_env, build_policy, load_solution
    from .keys import key, row_keys

    config, params = load_solution(run_dir)
    params = params.reshape(1, -1)
    env = build_env(config, 1, render_mode="rgb_array")
    policy = build_policy(config, env)
    keys = row_keys(key(int(seed), torch.arange(1, device=params.device)), 1)
    obs, _ = env.reset(seed=reset_seeds(env, keys))
    state = policy.initial_state(params, keys)
    frames, t = [rgb_frame(env)], 0
    horizon = env.unwrapped.max_episode_steps if getattr(env.unwrapped, "max_episode_steps", None) else 1000
    every = max(1, horizon // max_frames)
    with torch.no_grad():
        while True:
            actions, state = policy.act(params, obs, state)
            obs, rewards, terminated, truncated, _ = env.step(actions)
            state = policy.learn(params, state, rewards)
            t += 1
            if t % every == 0:
                frames.append(rgb_frame(env))
            if bool(terminated[0]) or bool(truncated[0]) or t >= horizon:
                break
    env.close()
    write_gif(frames, path, fps=20)
    return len(frames)


def cmd_evaluate(args) -> int:
    result = evaluate_run(args.run_dir, args.episodes, args.seed, progress=not args.no_progress)
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
def _metrics_rows(run_dir: str | Path) -> list[dict]:
    from .errors import UserError
    from .run_dir import RunDir

    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        raise UserError(f"{path} not found; is {run_dir} a metarl-gym run directory?")
    rows = RunDir(run_dir, "evolve").read_metrics()  # kind is not checked for reading: any run's metrics
    if not rows:
        raise UserError(f"{path} has no rows yet")
    return rows


def read_metrics(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Columns of a run's metrics.csv as float arrays (a partial last line is ignored)."""
    rows = _metrics_rows(run_dir)

    def num(value):
        try:
            return float(value)
        except (TypeError, ValueError):
            return np.nan

    return {key: np.array([num(r.get(key)) for r in rows]) for key in rows[0]}


def cmd_plot(args) -> int:
    from .errors import UserError
    from .plots import plot_fitness

    if not Path(args.out).suffix:  # matplotlib would write OUT.png, and the message would name a file never written
        raise UserError(f"--out {args.out}: name an image file with its format's extension, e.g. --out {args.out}.png")
    runs = [(Path(d).name, _metrics_rows(d)) for d in args.run_dirs]
    _make_parent(args.out)
    try:
        plot_fitness(runs, args.out, x=args.x)
    except ValueError as err:  # a run without the --x column, or an image format matplotlib does not write
        hint = "; use --x with a column every run has" if "has no column" in str(err) else ""
        raise UserError(f"{err}{hint}") from None
    print(f"wrote {args.out}")
    return 0


def _stop_on_sigterm(call, resume_hint: str):
    """``call()`` with SIGTERM raising KeyboardInterrupt (as Ctrl-C does) where no generation loop catches it (SB3
    trains in one call; ER-MRL's set-up and test runs): the files on disk stay consistent (every write is atomic,
    every metrics row already written), and the stop becomes a :class:`RunInterrupted` saying ``resume_hint``."""
    import signal

    from .evolution.runner import RunInterrupted

    received: list[int] = []

    def stop(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return call()
    except KeyboardInterrupt:
        signum = received[0] if received else signal.SIGINT
        raise RunInterrupted(f"{signal.Signals(signum).name}: {resume_hint}", signum) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_baseline(args) -> int:
    from .baselines.run import run_baseline
    from .config import apply_overrides, load_yaml
    from .errors import UserError

    if args.resume:
        if args.config or args.overrides or args.overwrite or args.run_dir:
            raise UserError("baseline --resume DIR takes no config, overrides, --run-dir or --overwrite: it finishes the run with its stored config")
        run_dir, call = Path(args.resume), lambda: run_baseline(None, args.resume, resume=True, progress=not args.no_progress)
    else:
        if not args.config:
            raise UserError("baseline needs a YAML config (e.g. examples/configs/ppo_cartpole.yaml) or --resume DIR")
        config = apply_overrides(load_yaml(args.config), args.overrides)
        run_dir = Path(args.run_dir) if args.run_dir else _default_run_dir(args.config)
        call = lambda: run_baseline(config, run_dir, overwrite=args.overwrite, progress=not args.no_progress)  # noqa: E731
    summary = _stop_on_sigterm(call, f"training stopped; finish the run with `metarl-gym baseline --resume {run_dir}` "
                                     "(it retrains from the stored config)")
    print(json.dumps(summary, default=str))
    return 0


# ---------------------------------------------------------------- er-mrl
def cmd_er_mrl(args) -> int:
    from .errors import UserError

    if args.resume:
        if args.config or args.overwrite or args.run_dir:
            raise UserError("er-mrl --resume DIR takes no config, --run-dir or --overwrite: it continues the run with its stored "
                            "config (overrides: search.generations, workers, threads, distributed.*)")
        run_dir = Path(args.resume)
    elif not args.config:
        raise UserError("er-mrl needs a YAML config (e.g. examples/configs/er_mrl_cartpole_masked.yaml) or --resume DIR")
    else:
        run_dir = Path(args.run_dir) if args.run_dir else _default_run_dir(args.config)

    def call():  # (SB3 and the envs import inside, under the SIGTERM handler)
        from .baselines.er_mrl import resume_er_mrl, run_er_mrl
        from .config import apply_overrides, load_yaml

        options = {"progress": not args.no_progress, "test": not args.no_test}
        if args.resume:
            return resume_er_mrl(run_dir, apply_overrides({}, args.overrides), **options)
        config = apply_overrides(load_yaml(args.config), args.overrides)
        return run_er_mrl(config, run_dir, overwrite=args.overwrite, **options)

    summary = _stop_on_sigterm(call, f"stopped; the study is saved up to its last finished generation and the test runs "
                                     f"that finished: resume with `metarl-gym er-mrl --resume {run_dir}`")
    best = summary["best"]
    print("best reservoir:", {k: round(v, 4) for k, v in best["params"].items()}, f"fitness {best['fitness']:.4g} "
          f"(generation {best['generation']} of 0..{summary['generations'] - 1}; study {summary['study_wall_s']:.1f} s)")
    if summary["test"] is not None:
        for name, result in summary["test"]["conditions"].items():
            print(f"{name:8s} final return {result['final_mean']:7.1f} ± {result['final_std']:5.1f}   mean over training {result['training_mean']:7.1f}")
        verdict = "beats" if summary["test"]["reservoir_beats_ppo"] else "does not beat"
        print(f"the evolved reservoir + PPO {verdict} plain PPO ({summary['wall_s'] / 60:.1f} min; plot: {run_dir / 'comparison.png'})")
    print(f"-> {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
