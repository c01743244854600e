"""The whole ER-MRL experiment — the CMA-ES study, then the test protocol — in one resumable run directory.

Run directory (a :class:`~metarl_gym.run_dir.RunDir` of kind ``er_mrl``)::

    run.json  .lock    the run kind and the files written; the lock held while a process writes
    config.yaml        the resolved config
    checkpoint.pt      the study (CMA-ES state, history, counters); weights_only-loadable
    metrics.csv        one row per generation (study.METRIC_COLUMNS)
    history.json       every candidate: generation, hyper-parameters, fitness, per-env and per-seed scores
    best.json          the best hyper-parameters found and their fitness
    fitness.png        the study's fitness per generation
    test/...  comparison.png  test_summary.json      the test protocol (see .protocol)

Running again on the same directory resumes it: the stored config must match the given one except for
``search.generations`` (to extend a study), ``workers``, ``threads`` and ``distributed``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...run_dir import RunDir
from .config import config_differences, resolve_er_mrl_config
from .plots import plot_fitness
from .protocol import run_test_protocol
from .study import Study
from .workers import LocalMap, MapFn

LEGACY_STUDY = "study.pkl"


def _open_run_dir(config: dict[str, Any], given: dict[str, Any], path: Path, overwrite: bool) -> tuple[RunDir, dict[str, Any]]:
    """Create the run directory, or open the study in it for resume; returns ``(run_dir, config to run)``."""
    if (path / LEGACY_STUDY).exists() and not overwrite:
        raise UserError(
            f"{path / LEGACY_STUDY} is an ER-MRL study of an older version, stored as a pickle, which can run code "
            f"when loaded, so it is not loaded: start a new --run-dir (or pass --overwrite to replace it)"
        )
    run_dir = RunDir(path, "er_mrl", overwrite=overwrite)
    if overwrite or not (path / "run.json").is_file():
        if overwrite and (path / LEGACY_STUDY).exists():
            (path / LEGACY_STUDY).unlink()
        return run_dir.create(config), config
    run_dir.open_existing()
    if not run_dir.exists("config.yaml"):
        if run_dir.exists("checkpoint.pt"):
            raise UserError(f"{path / 'config.yaml'} is missing, so the study there cannot be checked against the config: restore it or use a new --run-dir")
        return run_dir, config  # stopped while being created: nothing to resume yet
    saved = run_dir.read_config()
    if given.get("seed", 0) is None:  # seed: null draws a seed; resuming keeps the drawn one
        config = {**config, "seed": saved.get("seed")}
    diffs = config_differences(saved, config)
    if diffs:
        raise UserError(
            f"{path}: config key(s) {diffs} differ from the study stored there; resume with the config it started with "
            f"(only search.generations, workers, threads and distributed may change), or use a new --run-dir"
        )
    return run_dir, config


def _default_map_fn(config: dict[str, Any]) -> tuple[MapFn, Any]:
    """``(map_fn, closer)`` for the config: a :class:`LocalMap`, or the distributed backend's map."""
    if config["distributed"]["backend"] == "ray":
        try:
            from ...distributed import er_mrl_map
        except ImportError as err:
            raise UserError(
                f"config key 'distributed.backend': ray is not available for ER-MRL here ({err}); install the ray "
                "extra, or set distributed.backend: local"
            ) from None
        map_fn = er_mrl_map(config["distributed"])
        return map_fn, getattr(map_fn, "close", None)
    local = LocalMap(config["workers"])
    return local, local.close


def run_er_mrl(
    config: dict[str, Any],
    run_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    test: bool = True,
    map_fn: MapFn | None = None,
) -> dict[str, Any]:
    """The ER-MRL experiment: the CMA-ES study, then the test protocol. Resumes the study in ``run_dir``.

    Args:
        config: the loaded YAML (see :mod:`.config` and examples/configs/er_mrl_cartpole_masked.yaml).
        run_dir: the run directory; an ER-MRL run there is continued.
        overwrite: replace whatever the directory holds (another run, foreign files, an old study.pkl).
        progress: progress bars over generations and test runs.
        test: run the test protocol after the study.
        map_fn: ``map_fn(fn, specs) -> results`` for the PPO trials (default: from ``workers`` /
            ``distributed``; see :mod:`.workers`).

    Returns:
        ``{"best": history entry, "generations", "study_wall_s", "test": test summary or None, "wall_s"}``.

    Raises:
        UserError: an invalid config (the key path named), a directory holding something else, a stored study
            with another config, a damaged or unsafe checkpoint, a directory in use by another process.
    """
    start = time.perf_counter()
    given = config
    config = resolve_er_mrl_config(config)
    path = Path(run_dir)
    rd, config = _open_run_dir(config, given if isinstance(given, dict) else {}, path, overwrite)
    closer = None
    if map_fn is None:
        map_fn, closer = _default_map_fn(config)
    try:
        with rd.lock():
            rd.write_config(config)  # a resume may have raised search.generations
            study = Study(config, rd, map_fn, progress)
            if study.generation > config["search"]["generations"]:
                raise UserError(
                    f"config key 'search.generations': the study in {path} has {study.generation} generations already; "
                    f"set it to {study.generation} or more"
                )
            best = study.run()
            if study.generations:
                with rd.atomic_path("fitness.png") as tmp:
                    plot_fitness(rd.read_metrics(), tmp, title=f"ER-MRL study on {', '.join(e['id'] for e in config['envs'])}")
            if best is None:
                raise UserError("no candidate finished an episode, so there is no best reservoir; raise fitness.total_timesteps")
            summary: dict[str, Any] = {"best": best, "generations": study.generation, "study_wall_s": round(study.wall_s, 1), "test": None}
            if test:
                batch = config["workers"] if config["distributed"]["backend"] == "local" else config["distributed"]["num_workers"]
                summary["test"] = run_test_protocol(config, rd, best, map_fn, batch=batch, progress=progress)
    finally:
        if closer is not None:
            closer()
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    return summary


# ---------------------------------------------------------------------------------------------- command line
def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None, *, default_config: str | None = None, default_run_dir: str = "runs/er_mrl", prog: str | None = None) -> int:
    """Command line: ``[--config C] [--run-dir D] [--overwrite] [--no-test] [--quiet] [key.path=value ...]``.

    Returns the exit status: 0 done, 2 a user error (one line on stderr naming the problem and the fix),
    130 interrupted (Ctrl-C or SIGTERM; the study is saved up to its last finished generation).
    """
    from ...config import apply_overrides
    from ...run_dir import load_yaml_file

    parser = argparse.ArgumentParser(prog=prog, description="ER-MRL: CMA-ES over reservoir hyper-parameters around SB3 PPO, then a test against plain PPO")
    parser.add_argument("--config", default=default_config, required=default_config is None, help="ER-MRL YAML config")
    parser.add_argument("--run-dir", default=default_run_dir, help="run directory (resumed if it holds an ER-MRL run)")
    parser.add_argument("--overwrite", action="store_true", help="replace whatever the run directory holds")
    parser.add_argument("--no-test", action="store_true", help="skip the test protocol")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", help="config overrides key.path=value, e.g. search.generations=5")
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        config = apply_overrides(load_yaml_file(args.config), args.overrides)
        summary = run_er_mrl(config, args.run_dir, overwrite=args.overwrite, progress=not args.quiet, test=not args.no_test)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; the study in {args.run_dir} is saved up to its last finished generation: run the same "
              "command again to resume", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    best = summary["best"]
    print("best reservoir:", {k: round(v, 4) for k, v in best["params"].items()}, f"fitness {best['fitness']:.4g}")
    if summary["test"] is not None:
        for name, result in summary["test"]["conditions"].items():
            print(f"{name:8s} final return {result['final_mean']:7.1f} ± {result['final_std']:5.1f}   mean over training {result['training_mean']:7.1f}")
        verdict = "beats" if summary["test"]["reservoir_beats_ppo"] else "does not beat"
        print(f"the evolved reservoir + PPO {verdict} plain PPO ({summary['wall_s'] / 60:.1f} min; plot: {Path(args.run_dir) / 'comparison.png'})")
    return 0


__all__ = ["main", "run_er_mrl"]
