"""The whole ER-MRL experiment — the CMA-ES study, then the test protocol — in one resumable run directory.

The study is an evolution run on the runner's one generation loop (:class:`~metarl_gym.evolution.runner.
EvolutionRun`): CMA-ES over reservoir hyper-parameters (:func:`.fitness.build_strategy`) with
:class:`.fitness.ReservoirFitness` as the backend that scores a population (PPO trials). ``metarl-gym er-mrl``
(:mod:`metarl_gym.cli`) runs :func:`run_er_mrl` / :func:`resume_er_mrl`.

Run directory (a :class:`~metarl_gym.run_dir.RunDir` of kind ``er_mrl``)::

    run.json  .lock    the run kind and the files written; the lock held while a process writes
    config.yaml        the resolved config
    checkpoint.pt      the runner's checkpoint: CMA-ES state, counters, the history and random scores;
                       weights_only-loadable; written after every generation (the commit point)
    metrics.csv        one row per generation: the runner's columns, then sigma and trials (PPO runs)
    history.json       every candidate: generation, hyper-parameters, fitness, per-env and per-seed scores
    best.json          the best hyper-parameters found and their fitness
    fitness.png        the study's best / mean fitness per generation
    test/...  comparison.png  test_summary.json      the test protocol (see .protocol)

Running again on the same directory with the same config resumes it (so does ``metarl-gym er-mrl --resume
DIR``): the stored config must match the given one except for ``search.generations`` (to extend a study),
``workers``, ``threads`` and ``distributed``.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...evolution.runner import EvolutionRun
from ...run_dir import RunDir
from ...config import config_differences, resolve_er_mrl_config
from ...config.er_mrl import RESUME_MAY_CHANGE
from .fitness import ReservoirFitness, build_strategy
from .protocol import run_test_protocol
from .workers import LocalMap, MapFn


def _open_run_dir(config: dict[str, Any], given: dict[str, Any], path: Path, overwrite: bool) -> tuple[RunDir, dict[str, Any]]:
    """Create the run directory, or open the study in it for resume; returns ``(run_dir, config to run)``."""
    run_dir = RunDir(path, "er_mrl", overwrite=overwrite)
    if overwrite or not (path / "run.json").is_file():
        return run_dir.create(config), config
    run_dir.open_existing()
    if not run_dir.exists("config.yaml"):
        if run_dir.exists("checkpoint.pt"):
            raise UserError(f"{path / 'config.yaml'} is missing, so the study there cannot be checked against the config: restore it or use a new --run-dir")
        return run_dir, config  # stopped while being created: nothing to resume yet
    saved = run_dir.read_config()
    if given.get("seed", 0) is None:  # seed: null draws a seed; resuming keeps the drawn one
        config = {**config, "seed": saved.get("seed")}
    diffs = [key for key, _, _ in config_differences(saved, config, RESUME_MAY_CHANGE)]
    if diffs:
        raise UserError(
            f"{path}: config key(s) {diffs} differ from the study stored there; resume with the config it started with "
            f"(only {', '.join(RESUME_MAY_CHANGE)} may change), or use a new --run-dir"
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
        run_dir: the run directory; an ER-MRL run there with the same config is continued.
        overwrite: replace whatever the directory holds (another run, files metarl-gym did not write).
        progress: progress bars over generations and test runs.
        test: run the test protocol after the study.
        map_fn: ``map_fn(fn, specs) -> results`` for the PPO trials (default: from ``workers`` /
            ``distributed``; see :mod:`.workers`).

    Returns:
        ``{"best": history entry, "generations", "study_wall_s", "test": test summary or None, "wall_s"}``.

    Raises:
        UserError: an invalid config (the key path named), a directory holding something else, a stored study
            with another config, a damaged or unsafe checkpoint, a directory in use by another process.
        RunInterrupted: SIGINT / SIGTERM stopped the study after a generation (checkpoint saved).
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
            fitness = ReservoirFitness(config, map_fn)
            generations = config["search"]["generations"]
            study = EvolutionRun(config, rd, strategy=build_strategy(config), backend=fitness, name="er-mrl",
                                 generations=generations, checkpoint_every=1, best_pt=False)
            try:
                study.restore()
                if study.generation > generations:
                    raise UserError(
                        f"config key 'search.generations': the study in {path} has {study.generation} generations already; "
                        f"set it to {study.generation} or more"
                    )
            except BaseException:
                study.close()
                raise
            result = study.run(progress=progress)
            best = fitness.best()
            if best is None:
                raise UserError("no candidate finished an episode, so there is no best reservoir; raise fitness.total_timesteps")
            summary: dict[str, Any] = {"best": best, "generations": result["generations"], "study_wall_s": round(result["wall_s"], 1), "test": None}
            if test:
                batch = config["workers"] if config["distributed"]["backend"] == "local" else config["distributed"]["num_workers"]
                summary["test"] = run_test_protocol(config, rd, best, map_fn, batch=batch, progress=progress)
    finally:
        if closer is not None:
            closer()
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    return summary


def resume_er_mrl(run_dir: str | Path, changes: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Continue the ER-MRL run in ``run_dir`` (the study, then the test protocol) with its stored config.

    Args:
        run_dir: a directory holding an ER-MRL run.
        changes: new values for the keys a resume may change, as a nested dict: ``{"search": {"generations":
            N}}`` (to extend the study), ``workers``, ``threads``, ``distributed``.
        **kwargs: ``progress``, ``test``, ``map_fn`` of :func:`run_er_mrl`.

    Raises:
        UserError: no ER-MRL run there, config.yaml missing or edited since the run started, a change of
            another key, and whatever :func:`run_er_mrl` raises.
    """
    rd = RunDir(run_dir, "er_mrl").open_existing()
    if not rd.exists("config.yaml"):
        raise UserError(f"{rd.path('config.yaml')} is missing: the run stopped before it started; start it again with "
                        f"`metarl-gym er-mrl CONFIG --run-dir {rd.root} --overwrite`")
    config = rd.read_config()
    if rd.recorded_config is not None:
        edited = [key for key, _, _ in config_differences(rd.recorded_config, config, RESUME_MAY_CHANGE)]
        if edited:
            raise UserError(f"{rd.path('config.yaml')}: config key(s) {edited} were edited after the run started; undo the "
                            "edit (a run resumes with the config it started with), or start a new run")
    config = copy.deepcopy(config)
    for key, value in (changes or {}).items():
        if key == "search" and isinstance(value, dict) and set(value) <= {"generations"}:
            config["search"].update(value)
        elif key == "distributed" and isinstance(value, dict):
            config["distributed"] = {**config["distributed"], **value}
        elif key in ("workers", "threads", "distributed"):
            config[key] = value
        else:
            shown = f"{key}.{next(iter(value))}" if isinstance(value, dict) and value else key
            raise UserError(f"a resumed ER-MRL run keeps the config it started with: only {', '.join(RESUME_MAY_CHANGE)} "
                            f"may change, got {shown}=...")
    return run_er_mrl(config, run_dir, **kwargs)


__all__ = ["resume_er_mrl", "run_er_mrl"]
