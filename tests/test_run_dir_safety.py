"""Run directories that cannot be turned against their user (issue 19 item 4).

Before: an entry ``/tmp/victim`` or ``../victim`` appended to run.json's ``files``, then ``evolve --overwrite``,
deleted the victim tree (``"."`` the whole run directory); a ``.lock`` symlinked to another file was truncated
to a pid; one flipped byte inside checkpoint.pt's population resumed silently; a NaN in a stored strategy state
resumed into NaN rows; a full disk gave a traceback.
"""

import errno
import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from metarl_gym import run_dir as run_dir_module
from metarl_gym.cli import main
from metarl_gym.errors import UserError
from metarl_gym.evolution.runner import evolve, resume
from metarl_gym.run_dir import RunDir

SMALL = {
    "env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 30}},
    "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4]}},
    "strategy": {"name": "ga", "pop_size": 8, "kwargs": {"num_survivors": 2}},
    "generations": 2,
    "episodes": 1,
    "seed": 5,
    "checkpoint_every": 1,
}


def one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def config_file(tmp_path, **changes):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**SMALL, **changes}))
    return str(path)


def rows(run):
    lines = (Path(run) / "metrics.csv").read_text().splitlines()
    wall = lines[0].split(",").index("wall_s")
    return [[v for i, v in enumerate(line.split(",")) if i != wall] for line in lines]


def add_entry(run, entry):
    info = json.loads((run / "run.json").read_text())
    info["files"].append(entry)
    (run / "run.json").write_text(json.dumps(info))


def rerecord(run, name):
    """What a consistent writer (or a bug) would leave: run.json's sha256 matching the edited file."""
    info = json.loads((run / "run.json").read_text())
    info["sha256"][name] = hashlib.sha256((run / name).read_bytes()).hexdigest()
    (run / "run.json").write_text(json.dumps(info))


@pytest.fixture
def victim(tmp_path):
    """A user's directory and file outside the run directory."""
    tree = tmp_path / "victim"
    tree.mkdir()
    (tree / "thesis.tex").write_text("years of work")
    return tree


def victim_intact(victim):
    return (victim / "thesis.tex").read_text() == "years of work"


# ------------------------------------------------------------------ run.json entries
@pytest.mark.parametrize("entry", ["abs", "../victim", ".", "./config.yaml", "sub/../../victim", "", "a//b", 7],
                         ids=["absolute", "dotdot", "dot", "dot-prefix", "climbing", "empty", "empty-component", "number"])
def test_bad_entries_are_refused_never_deleted(tmp_path, capsys, victim, entry):
    run = tmp_path / "run"
    config = config_file(tmp_path)
    assert main(["evolve", config, "--run-dir", str(run), "--no-progress"]) == 0
    before = sorted(p.name for p in run.iterdir())
    add_entry(run, str(victim) if entry == "abs" else entry)
    (run / "notes.txt").write_text("mine")
    assert main(["evolve", config, "--run-dir", str(run), "--no-progress", "--overwrite"]) == 2
    err = one_line_error(capsys)
    assert "run.json" in err and "refusing" in err and "nothing was deleted" in err
    assert victim_intact(victim) and (run / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in run.iterdir()) == sorted(before + ["notes.txt"])  # not one run file deleted
    assert main(["evolve", "--resume", str(run), "--no-progress"]) == 2  # a resume refuses it as well
    assert "run.json" in one_line_error(capsys)


@pytest.mark.parametrize("kind", ["symlink-to-file", "symlink-to-dir", "directory", "below-symlinked-dir", "fifo"])
def test_entries_that_are_not_plain_files_are_refused_never_deleted(tmp_path, capsys, victim, kind):
    run = tmp_path / "run"
    config = config_file(tmp_path)
    assert main(["evolve", config, "--run-dir", str(run), "--no-progress"]) == 0
    if kind == "symlink-to-file":
        (run / "link").symlink_to(victim / "thesis.tex")
        entry = "link"
    elif kind == "symlink-to-dir":
        (run / "link").symlink_to(victim)
        entry = "link"
    elif kind == "directory":
        (run / "data").mkdir()
        (run / "data" / "mine.csv").write_text("user data")
        entry = "data"
    elif kind == "below-symlinked-dir":
        (run / "link").symlink_to(victim)
        entry = "link/thesis.tex"
    else:
        os.mkfifo(run / "pipe")
        entry = "pipe"
    add_entry(run, entry)
    assert main(["evolve", config, "--run-dir", str(run), "--no-progress", "--overwrite"]) == 2
    err = one_line_error(capsys)
    assert "--overwrite" in err and "not deleted" in err and entry in err
    assert victim_intact(victim) and (run / "checkpoint.pt").exists() and (run / "best.pt").exists()
    if kind == "directory":
        assert (run / "data" / "mine.csv").read_text() == "user data"


def test_overwrite_removes_only_the_listed_files_and_their_emptied_folders(tmp_path):
    rd = RunDir(tmp_path / "r", "er_mrl").create({"a": 1})
    rd.write_text("trials/a/metrics.csv", "x\n")
    rd.write_text("trials/b/metrics.csv", "y\n")
    (rd.root / "trials" / "b" / "mine.txt").write_text("user")
    info = json.loads(rd.path("run.json").read_text())
    assert "trials/a/metrics.csv" in info["files"] and "trials" not in info["files"]  # files, never folders
    RunDir(tmp_path / "r", "er_mrl", overwrite=True).create({"a": 2})
    assert not (rd.root / "trials" / "a").exists()  # emptied: removed
    assert (rd.root / "trials" / "b" / "mine.txt").read_text() == "user"  # a user's file keeps its folder


def test_a_folder_written_by_another_library_is_recorded_file_by_file(tmp_path):
    rd = RunDir(tmp_path / "r", "evolve").create({})
    (rd.root / "tensorboard").mkdir()
    (rd.root / "tensorboard" / "events.1").write_bytes(b"e")
    rd._record("tensorboard")  # as the runner does after creating its SummaryWriter
    info = json.loads(rd.path("run.json").read_text())
    assert "tensorboard/events.1" in info["files"] and "tensorboard" not in info["files"]
    RunDir(tmp_path / "r", "evolve", overwrite=True).create({})
    assert not (rd.root / "tensorboard").exists()


def test_names_that_leave_the_directory_are_refused_when_writing(tmp_path, victim):
    rd = RunDir(tmp_path / "r", "baseline").create({})
    for name in ("../victim/thesis.tex", str(victim / "thesis.tex"), "."):
        with pytest.raises(ValueError, match="relative path inside"):
            rd.write_text(name, "overwritten")
    assert victim_intact(victim)


# ------------------------------------------------------------------ the lock
@pytest.mark.parametrize("how", ["symlink", "hardlink"])
def test_a_lock_linked_to_another_file_is_refused_not_truncated(tmp_path, capsys, victim, how):
    run = tmp_path / "run"
    assert main(["evolve", config_file(tmp_path), "--run-dir", str(run), "--no-progress"]) == 0
    assert not (run / ".lock").exists()  # removed at the clean exit
    target = victim / "thesis.tex"
    (run / ".lock").symlink_to(target) if how == "symlink" else os.link(target, run / ".lock")
    assert main(["evolve", "--resume", str(run), "generations=3", "--no-progress"]) == 2
    err = one_line_error(capsys)
    assert ".lock" in err and ("symbolic link" if how == "symlink" else "hard link") in err
    assert victim_intact(victim)


def test_lock_is_removed_after_an_error_exit_too(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["evolve", config_file(tmp_path), "--run-dir", str(run), "--no-progress"]) == 0
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "seed": 6}))
    assert main(["evolve", "--resume", str(run), "--no-progress"]) == 2
    capsys.readouterr()
    assert not (run / ".lock").exists()


def test_lock_holder_release_race_locks_the_new_file(tmp_path, monkeypatch):
    """A holder that removes .lock between our open and our flock: we must not keep a lock on the dead file."""
    import fcntl

    rd = RunDir(tmp_path / "r", "evolve").create({})
    real_flock, calls = fcntl.flock, []

    def flock(fd, op):
        if not calls:
            (rd.root / ".lock").unlink()  # the previous holder's release, at the worst moment
        calls.append(op)
        return real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    with rd.lock():
        held = os.fstat(rd._lock_fd)
        now = os.stat(rd.root / ".lock")
        assert (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino) and len(calls) == 2
        other = RunDir(tmp_path / "r", "evolve")
        monkeypatch.setattr(fcntl, "flock", real_flock)
        with pytest.raises(UserError, match="in use by another process"):
            with other.lock():
                pass


# ------------------------------------------------------------------ checksums
def flip_a_tensor_byte(path, member_suffix):
    """Flip one byte in the middle of a stored tensor's data (zip members are stored uncompressed)."""
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename and i.filename.endswith(member_suffix)),
                   key=lambda i: i.file_size)
        header = info.header_offset
    data = bytearray(path.read_bytes())
    name_len, extra_len = int.from_bytes(data[header + 26:header + 28], "little"), int.from_bytes(data[header + 28:header + 30], "little")
    start = header + 30 + name_len + extra_len
    data[start + info.file_size // 2] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["checkpoint.pt", "best.pt"])
def test_a_flipped_byte_is_named_not_used(tmp_path, capsys, name):
    run = tmp_path / "run"
    assert main(["evolve", config_file(tmp_path), "--run-dir", str(run), "--no-progress"]) == 0
    before = torch.load(run / name, weights_only=True)
    flip_a_tensor_byte(run / name, "")
    after = torch.load(run / name, weights_only=True)  # torch reads it without a word ...
    assert before.keys() == after.keys()
    command = ["evaluate", str(run)] if name == "best.pt" else ["evolve", "--resume", str(run), "generations=3"]
    assert main([*command, "--no-progress"]) == 2  # ... the run does not
    err = one_line_error(capsys)
    assert f"{name} is corrupt: its sha256 differs" in err


def test_a_kill_between_run_json_and_the_rename_stays_consistent(tmp_path, monkeypatch):
    """run.json records the new sha256 before the rename; the old file must still verify."""
    rd = RunDir(tmp_path / "r", "evolve").create({})
    rd.save_checkpoint({"generation": 1, "x": torch.ones(3)})

    def killed(src, dst):
        raise KeyboardInterrupt  # the process dies right before the rename

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        rd.save_checkpoint({"generation": 2, "x": torch.zeros(3)})
    monkeypatch.undo()
    reopened = RunDir(tmp_path / "r", "evolve").open_existing()
    assert reopened.load_checkpoint()["generation"] == 1
    assert [p.name for p in rd.root.iterdir() if ".tmp-" in p.name] == []


def test_a_json_file_is_verified(tmp_path):
    rd = RunDir(tmp_path / "r", "er_mrl").create({})
    rd.write_json("history.json", [1, 2, 3])
    rd.path("history.json").write_text("[1, 2, 4]\n")
    with pytest.raises(UserError, match="history.json is corrupt: its sha256 differs"):
        RunDir(tmp_path / "r", "er_mrl").open_existing().read_json("history.json")


def test_verify_detects_an_edited_config(tmp_path):
    rd = RunDir(tmp_path / "r", "evolve").create({"policy": {"activation": "tanh"}})
    rd.verify("config.yaml")
    rd.path("config.yaml").write_text("policy: {activation: relu}\n")
    with pytest.raises(UserError, match="config.yaml is corrupt"):
        RunDir(tmp_path / "r", "evolve").open_existing().verify("config.yaml")


# ------------------------------------------------------------------ non-finite files
@pytest.mark.parametrize("strategy, entry", [("ga", "population"), ("openai_es", "_center")])
def test_a_nan_in_a_stored_strategy_state_is_refused_on_resume(tmp_path, capsys, strategy, entry):
    kwargs = {"num_survivors": 2} if strategy == "ga" else {}
    run = tmp_path / "run"
    config = config_file(tmp_path, strategy={"name": strategy, "pop_size": 8, "kwargs": kwargs})
    assert main(["evolve", config, "--run-dir", str(run), "--no-progress"]) == 0
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["strategy"]["strategy_state"][entry][0] = float("nan")
    torch.save(state, run / "checkpoint.pt")
    assert main(["evolve", "--resume", str(run), "generations=3", "--no-progress"]) == 2
    assert "sha256 differs" in one_line_error(capsys)  # first line of defence
    rerecord(run, "checkpoint.pt")
    assert main(["evolve", "--resume", str(run), "generations=3", "--no-progress"]) == 2
    err = one_line_error(capsys)
    assert f"NaN / inf in ['{entry}']" in err and "refusing to resume" in err
    assert len(rows(run)) == 3  # header + the 2 rows: nothing appended


def test_best_pt_is_never_written_or_used_non_finite(tmp_path, capsys):
    rd = RunDir(tmp_path / "rd", "evolve").create({})
    for bad in ({"params": torch.ones(3), "fitness": float("-inf")},
                {"params": torch.tensor([1.0, float("nan")]), "fitness": 1.0}):
        with pytest.raises(UserError, match="refusing to write .*best.pt"):
            rd.save_best(bad)
    assert not rd.exists("best.pt")
    run = tmp_path / "run"
    assert main(["evolve", config_file(tmp_path), "--run-dir", str(run), "--no-progress"]) == 0
    best = torch.load(run / "best.pt", weights_only=True)
    best["params"][0] = float("inf")
    torch.save(best, run / "best.pt")
    rerecord(run, "best.pt")
    assert main(["evaluate", str(run), "--no-progress"]) == 2
    assert "best.pt holds NaN / inf in ['params'" in one_line_error(capsys)


# ------------------------------------------------------------------ full disk, read-only directory
def test_full_disk_is_one_line_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    config = config_file(tmp_path, generations=4)
    assert main(["evolve", config, "--run-dir", str(tmp_path / "straight"), "--no-progress"]) == 0
    real_replace, seen = os.replace, []

    def replace(src, dst):
        if Path(dst).name == "checkpoint.pt":
            seen.append(dst)
            if len(seen) == 3:  # the third checkpoint (generation 3) finds the disk full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    run = tmp_path / "run"
    assert main(["evolve", config, "--run-dir", str(run), "--no-progress"]) == 2
    err = one_line_error(capsys)
    assert f"cannot write checkpoint.pt in {run}: No space left on device (ENOSPC)" in err
    assert "needs" in err and "last good checkpoint is at generation 2" in err
    assert not (run / ".lock").exists()
    monkeypatch.undo()
    assert main(["evolve", "--resume", str(run), "--no-progress"]) == 0  # the files there are consistent
    assert rows(run) == rows(tmp_path / "straight")


def test_metrics_append_on_a_full_disk(tmp_path, monkeypatch):
    rd = RunDir(tmp_path / "r", "evolve").create({})
    rd.append_metrics({"generation": 0, "best": 1.0})

    def write(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(UserError, match=r"cannot write metrics.csv in .*No space left on device .*needs \d+ bytes.*no checkpoint was written yet"):
        rd.append_metrics({"generation": 1, "best": 2.0})


def test_read_only_directory_is_one_line(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["evolve", config_file(tmp_path), "--run-dir", str(run), "--no-progress"]) == 0
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(run)) and flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    assert main(["evolve", "--resume", str(run), "generations=3", "--no-progress"]) == 2
    err = one_line_error(capsys)
    assert f"cannot write .lock in {run}: Read-only file system (EROFS)" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_with_real_permissions(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["evolve", config_file(tmp_path), "--run-dir", str(run), "--no-progress"]) == 0
    run.chmod(0o555)
    try:
        assert main(["evolve", "--resume", str(run), "generations=3", "--no-progress"]) == 2
        assert f"in {run}: Permission denied" in one_line_error(capsys)
    finally:
        run.chmod(0o755)


def test_a_symlinked_metrics_file_is_not_appended_to(tmp_path, capsys, victim):
    run = tmp_path / "run"
    assert main(["evolve", config_file(tmp_path), "--run-dir", str(run), "--no-progress"]) == 0
    (run / "metrics.csv").unlink()
    (run / "metrics.csv").symlink_to(victim / "thesis.tex")
    assert main(["evolve", "--resume", str(run), "generations=3", "--no-progress"]) == 2
    assert "metrics.csv is a symbolic link" in one_line_error(capsys)
    assert victim_intact(victim)


def test_the_straight_run_and_a_resume_still_match(tmp_path):
    """The extra bookkeeping (sha256 per write, lock removal) keeps resumes exact."""
    evolve({**SMALL, "generations": 3}, tmp_path / "straight", progress=False)
    evolve({**SMALL, "generations": 1}, tmp_path / "split", progress=False)
    resume(tmp_path / "split", progress=False, generations=3)
    assert rows(tmp_path / "split") == rows(tmp_path / "straight")
    info = json.loads((tmp_path / "split" / "run.json").read_text())
    assert info["format"] == run_dir_module.FORMAT and set(info["sha256"]) >= {"config.yaml", "checkpoint.pt", "best.pt"}
    assert "metrics.csv" in info["files"] and "metrics.csv" not in info["sha256"]  # an append-only log
