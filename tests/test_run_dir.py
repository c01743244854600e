"""RunDir and the run-directory bullets of issue 12: no data loss, locks, exact resume, safe loading, signals."""

import csv
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import write_faults
from metarl_gym.cli import main
from metarl_gym.errors import UserError
from metarl_gym.evolution.runner import evolve, resume
from metarl_gym.run_dir import RunDir

SMALL = {
    "env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 60}},
    "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4]}},
    "strategy": {"name": "ga", "pop_size": 8, "kwargs": {"num_survivors": 2}},
    "generations": 4,
    "episodes": 1,
    "seed": 5,
}
BASELINE = {
    "algorithm": "ppo", "env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 30}}, "num_envs": 2,
    "total_timesteps": 128, "seed": 1, "device": "cpu", "threads": 1,
    "algorithm_kwargs": {"n_steps": 16, "batch_size": 32, "n_epochs": 1, "policy_kwargs": {"net_arch": [4]}},
}


def rows(run_dir):
    with open(Path(run_dir) / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(f)]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "metarl_gym.cli", *map(str, args)], capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------ RunDir itself
def test_metrics_append_truncate_and_partial_line(tmp_path):
    rd = RunDir(tmp_path / "r", "evolve").create({"a": 1})
    for g in range(3):
        rd.append_metrics({"generation": g, "best": g / 2})
    with open(rd.path("metrics.csv"), "a") as f:
        f.write("3,1.")  # a kill in the middle of a row
    assert [r["generation"] for r in rd.read_metrics()] == [0, 1, 2]
    rd.truncate_metrics(2)
    assert rd.path("metrics.csv").read_text() == "generation,best\n0,0.0\n1,0.5\n"
    with pytest.raises(UserError, match="rows were lost"):
        rd.truncate_metrics(5)


def test_atomic_write_leaves_the_old_file_on_error(tmp_path):
    rd = RunDir(tmp_path / "r", "baseline").create({"a": 1})
    rd.write_json("x.json", {"v": 1})
    with pytest.raises(ValueError):
        rd.write_json("x.json", {"v": float("nan")})
    assert rd.read_json("x.json") == {"v": 1}
    assert sorted(p.name for p in rd.root.iterdir()) == ["config.yaml", "run.json", "x.json"]  # no temporary file, no .lock


def test_lock_is_exclusive_and_released_when_the_holder_dies(tmp_path):
    rd = RunDir(tmp_path / "r", "evolve").create({})
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from metarl_gym.run_dir import RunDir; rd = RunDir(sys.argv[1], 'evolve').open_existing()\n"
        "with rd.lock():\n    print('locked', flush=True); time.sleep(60)"), str(rd.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=rf"in use by another process \(pid {holder.pid}\)"):
            with rd.lock():
                pass
    finally:
        holder.kill()
        holder.wait()
    with rd.lock():  # SIGKILL released it
        pass


def test_kind_and_foreign_files_are_refused_unless_overwrite(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="did not write .*notes.txt"):
        RunDir(d, "evolve").create({})
    RunDir(d, "evolve", overwrite=True).create({"x": 1})
    assert (d / "notes.txt").read_text() == "mine"  # overwrite replaces run files, not the user's
    with pytest.raises(UserError, match="holds an evolve run"):
        RunDir(d, "er_mrl").create({})
    with pytest.raises(UserError, match="holds an evolve run, not a baseline run"):
        RunDir(d, "baseline").open_existing()


MARKER_PAYLOAD = "import pathlib; pathlib.Path({path!r}).write_text('pwned')"


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (exec, (MARKER_PAYLOAD.format(path=str(self.path)),))


@pytest.mark.parametrize("name", ["checkpoint.pt", "best.pt"])
def test_crafted_pickle_is_refused_not_executed(tmp_path, name):
    marker = tmp_path / "marker"
    evolve({**SMALL, "generations": 2, "checkpoint_every": 1}, tmp_path / "run", progress=False)
    torch.save({"params": _Evil(marker)}, tmp_path / "run" / name)  # torch.save pickles the object
    command = ["evaluate", tmp_path / "run"] if name == "best.pt" else ["evolve", "--resume", tmp_path / "run", "generations=3"]
    result = cli(*command, "--no-progress")
    assert result.returncode == 2 and "refusing to load" in result.stderr and name in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not marker.exists()


def test_crafted_cma_state_is_refused_not_executed(tmp_path):
    """The CMA-ES state holds no pickle any more; a blob put where the old format kept one is never unpickled,
    whether run.json's sha256 catches the edit or (re-recorded) the strategy refuses the old format."""
    import hashlib
    import json

    marker = tmp_path / "marker"
    config = {**SMALL, "strategy": {"name": "cma_es", "pop_size": 8, "kwargs": {"sigma0": 0.5}}, "generations": 2}
    evolve(config, tmp_path / "run", progress=False)
    path = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state["strategy"]["strategy_state"] = {"cma_es": pickle.dumps(_Evil(marker)), "pending": None}
    torch.save(state, path)
    with pytest.raises(UserError, match="checkpoint.pt is corrupt: its sha256 differs"):
        resume(tmp_path / "run", progress=False, generations=3)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    info["sha256"]["checkpoint.pt"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "run" / "run.json").write_text(json.dumps(info))
    with pytest.raises(UserError, match="older metarl_gym"):
        resume(tmp_path / "run", progress=False, generations=3)
    assert not marker.exists()


def test_cma_es_resume_is_exact(tmp_path):
    config = {**SMALL, "strategy": {"name": "cma_es", "pop_size": 8, "kwargs": {"sigma0": 0.5}}, "generations": 5}
    evolve(config, tmp_path / "straight", progress=False)
    evolve({**config, "generations": 2}, tmp_path / "split", progress=False)
    resume(tmp_path / "split", progress=False, generations=5)
    assert rows(tmp_path / "split") == rows(tmp_path / "straight")
    a, b = (torch.load(tmp_path / d / "best.pt", weights_only=True) for d in ("straight", "split"))
    assert torch.equal(a["params"], b["params"])


# ------------------------------------------------------------------ data loss
def test_baseline_refuses_an_evolve_run(tmp_path):
    evolve({**SMALL, "generations": 1}, tmp_path / "run", progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    config = tmp_path / "b.yaml"
    config.write_text(yaml.safe_dump(BASELINE))
    result = cli("baseline", config, "--run-dir", tmp_path / "run", "--no-progress")
    assert result.returncode == 2 and "holds an evolve run" in result.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()} == before


@pytest.mark.parametrize("name", ["config.yaml", "best.pt"])
def test_evolve_refuses_a_users_file_unless_overwrite(tmp_path, capsys, name):
    d = tmp_path / "d"
    d.mkdir()
    (d / name).write_text("user data")
    assert main(["evolve", "generations=1", "strategy.pop_size=8", "strategy.kwargs.num_survivors=2", "--run-dir", str(d), "--no-progress"]) == 2
    assert "did not write" in capsys.readouterr().err and (d / name).read_text() == "user data"
    assert main(["evolve", "generations=1", "strategy.pop_size=8", "strategy.kwargs.num_survivors=2", "--run-dir", str(d),
                 "--no-progress", "--overwrite"]) == 0
    assert (d / name).read_bytes() != b"user data"


def test_two_concurrent_resumes_second_refuses(tmp_path):
    """The first resume stops itself (SIGSTOP) right after its third write of metrics.csv (the resume's truncation
    to the checkpoint, then two rows), holding the lock; a second resume of the same directory is refused, and the
    rows stay one per generation."""
    evolve({**SMALL, "generations": 1, "env": {"id": "MetaRL/CartPole-v1"}, "strategy": {"name": "ga", "pop_size": 64, "kwargs": {"num_survivors": 8}}},
           tmp_path / "run", progress=False)
    first = write_faults.start_child(["evolve", "--resume", tmp_path / "run", "generations=400", "--no-progress"],
                                     kill_at=3, kill_file="metrics.csv", kill_signal="SIGSTOP")
    try:
        _, status = os.waitpid(first.pid, os.WUNTRACED)  # returns once the child has stopped itself
        assert os.WIFSTOPPED(status), status
        second = cli("evolve", "--resume", tmp_path / "run", "generations=400", "--no-progress")
        assert second.returncode == 2 and "in use by another process" in second.stderr
    finally:
        first.kill()
        first.communicate()
    generations = [int(r["generation"]) for r in rows(tmp_path / "run")]
    assert generations == [0, 1, 2]  # generation 0, then the first resume's two rows: no duplicate


def test_partial_last_metrics_line_is_dropped_on_resume(tmp_path):
    evolve(SMALL, tmp_path / "straight", progress=False)
    evolve({**SMALL, "generations": 2}, tmp_path / "split", progress=False)
    with open(tmp_path / "split" / "metrics.csv", "a") as f:
        f.write("2,99.0,1")
    resume(tmp_path / "split", progress=False, generations=4)
    assert rows(tmp_path / "split") == rows(tmp_path / "straight")


def test_deleted_metrics_refuses_resume(tmp_path, capsys):
    evolve({**SMALL, "generations": 2}, tmp_path / "run", progress=False)
    (tmp_path / "run" / "metrics.csv").unlink()
    assert main(["evolve", "--resume", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "metrics.csv is missing" in capsys.readouterr().err
    assert not (tmp_path / "run" / "metrics.csv").exists()


@pytest.mark.parametrize("edit", [("seed", 6), ("episodes", 2), ("strategy", {"name": "ga", "pop_size": 8, "kwargs": {"num_survivors": 2, "mutation_std": 0.9}})])
def test_config_edits_between_stop_and_resume_are_refused(tmp_path, capsys, edit):
    evolve({**SMALL, "generations": 2}, tmp_path / "run", progress=False)
    path = tmp_path / "run" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config[edit[0]] = edit[1]
    path.write_text(yaml.safe_dump(config))
    assert main(["evolve", "--resume", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"config key '{edit[0]}" in err and "started with" in err


def test_resume_generations_override_extends_the_run(tmp_path, capsys):
    evolve(SMALL, tmp_path / "straight", progress=False)
    evolve({**SMALL, "generations": 2}, tmp_path / "split", progress=False)
    assert main(["evolve", "--resume", str(tmp_path / "split"), "generations=4", "--no-progress"]) == 0
    assert rows(tmp_path / "split") == rows(tmp_path / "straight")
    assert yaml.safe_load((tmp_path / "split" / "config.yaml").read_text())["generations"] == 4
    assert main(["evolve", "--resume", str(tmp_path / "split"), "seed=3", "--no-progress"]) == 2
    assert "only generations=N" in capsys.readouterr().err


def test_best_pt_never_holds_nonfinite_params(tmp_path):
    evolve({**SMALL, "generations": 2}, tmp_path / "run", progress=False)
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert torch.isfinite(best["params"]).all()
    assert {"num_nonfinite"} <= set(rows(tmp_path / "run")[0])
    from metarl_gym.evolution.runner import EvolutionRun
    from metarl_gym.config import resolve_evolve_config

    run = EvolutionRun(resolve_evolve_config(SMALL), RunDir(tmp_path / "run", "evolve").open_existing())
    run.strategy.best_params = torch.full((run.policy.num_params,), float("nan"))
    run.save_best()  # refused: the finite best.pt stays
    assert torch.equal(torch.load(tmp_path / "run" / "best.pt", weights_only=True)["params"], best["params"])
    run.close()


# ------------------------------------------------------------------ clear errors
@pytest.mark.parametrize("name", ["checkpoint.pt", "best.pt"])
def test_corrupt_files_are_named(tmp_path, name):
    evolve({**SMALL, "generations": 2}, tmp_path / "run", progress=False)
    (tmp_path / "run" / name).write_bytes(b"PK\x03\x04 truncated")
    command = ["evaluate", tmp_path / "run"] if name == "best.pt" else ["evolve", "--resume", tmp_path / "run", "generations=3"]
    result = cli(*command, "--no-progress")
    assert result.returncode == 2 and f"{name} is corrupt" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_yaml_syntax_error_names_file_line_column(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("generations: 3\npolicy: {name: mlp\nseed: 1\n")
    assert main(["evolve", str(path), "--run-dir", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:3:" in err and "YAML syntax error" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_after_a_checkpoint_and_says_how_to_resume(tmp_path, signum):
    config = {**SMALL, "generations": 400, "env": {"id": "MetaRL/CartPole-v1"}, "strategy": {"name": "ga", "pop_size": 64, "kwargs": {"num_survivors": 8}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    # the signal arrives right after the run's 6th write (config, run.json, then per generation a checkpoint and a row)
    returncode, err = write_faults.run_child(["evolve", path, "--run-dir", run, "--no-progress"], kill_at=6, kill_signal=signum.name)
    assert returncode == 128 + signum
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"evolve --resume {run}" in lines[0] and "checkpoint saved" in lines[0]
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["generation"] == len(rows(run)) < 400  # consistent: every row is in the checkpoint


def test_an_evolve_run_from_before_run_json_is_adopted(tmp_path):
    evolve({**SMALL, "generations": 2}, tmp_path / "run", progress=False)
    evolve(SMALL, tmp_path / "straight", progress=False)
    (tmp_path / "run" / "run.json").unlink()
    resume(tmp_path / "run", progress=False, generations=4)
    assert rows(tmp_path / "run") == rows(tmp_path / "straight")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.yaml").write_text("seed: 1\n")  # no checkpoint: nothing to adopt
    with pytest.raises(UserError, match="holds no metarl-gym run"):
        RunDir(tmp_path / "other", "evolve").open_existing()


def test_progress_bars_on_evaluate_and_baseline(tmp_path, capsys):
    evolve({**SMALL, "generations": 1}, tmp_path / "run", progress=False)
    assert main(["evaluate", str(tmp_path / "run"), "--episodes", "2"]) == 0
    assert "evaluate" in capsys.readouterr().err  # the tqdm bar
    config = tmp_path / "b.yaml"
    config.write_text(yaml.safe_dump({**BASELINE, "total_timesteps": 64}))
    assert main(["baseline", str(config), "--run-dir", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "baseline" in err and "64/64" in err
    assert (tmp_path / "b" / "fitness.png").exists()


def test_sigterm_stops_a_baseline_with_the_resume_line(tmp_path):
    config = tmp_path / "b.yaml"
    config.write_text(yaml.safe_dump({**BASELINE, "total_timesteps": 200_000, "log_interval_steps": 64}))
    run = tmp_path / "b"
    returncode, err = write_faults.run_child(["baseline", config, "--run-dir", run, "--no-progress"], kill_at=5, kill_signal="SIGTERM")
    assert returncode == 128 + signal.SIGTERM
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"baseline --resume {run}" in lines[0]
