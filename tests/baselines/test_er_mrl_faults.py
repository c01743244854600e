"""Fault injection for the ER-MRL study: SIGKILL at seeded random points — before, in the middle of and after
run-directory writes (tests/write_faults.py) — and SIGTERM right after one, each followed by a resume; the
result must be the uninterrupted run's.
"""

import csv
import json
import random
import signal

import yaml

import write_faults
from helpers import tiny_study

# smaller than helpers.tiny_study: three runs are killed and resumed, and each child imports torch and SB3
CONFIG = tiny_study(
    envs=[{"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 20}, "mask_velocity": True}],
    seed=3,
    threads=1,
    reservoir={"nb_res": 1, "units": 8},
    search={"generations": 2, "pop_size": 3, "sigma0": 0.3},
    fitness={"seeds": 1, "total_timesteps": 48, "last_episodes": 5},
    ppo={"num_envs": 2, "algorithm_kwargs": {"n_steps": 8, "batch_size": 16, "n_epochs": 1, "policy_kwargs": {"net_arch": [4]}}},
    test={"seeds": 1, "total_timesteps": 96},
)

def run_child(args, **kwargs):
    """``metarl-gym er-mrl ARGS --no-progress`` in a child process (see tests/write_faults.py)."""
    return write_faults.run_child(["er-mrl", *args, "--no-progress"], **kwargs)


def count_writes(run_dir, monkeypatch):
    """Run the study here (the uninterrupted reference) and count its writes, as the child counts them."""
    from metarl_gym.baselines.er_mrl import run_er_mrl

    return write_faults.count_writes(lambda: run_er_mrl(CONFIG, run_dir, progress=False), monkeypatch)


def outcome(run_dir):
    """Everything a finished run records that must not depend on interruptions (wall-clock columns dropped)."""
    def rows(path):
        with open(path) as f:
            return [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(f)]

    out = {name: json.loads((run_dir / name).read_text()) for name in ("history.json", "best.json", "test_summary.json")}
    out["metrics.csv"] = rows(run_dir / "metrics.csv")
    for condition in ("ppo", "res_ppo"):
        seed_dir = run_dir / "test" / condition / "seed_0"
        out[f"{condition}/metrics.csv"] = rows(seed_dir / "metrics.csv")
        result = json.loads((seed_dir / "result.json").read_text())
        assert result["last_row"] is not None, "no test episode finished: raise test.total_timesteps"
        result["last_row"].pop("wall_s")
        out[f"{condition}/result.json"] = result
    return out


def test_sigkill_at_random_points_then_resume_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    total = count_writes(tmp_path / "reference", monkeypatch)
    reference = outcome(tmp_path / "reference")
    assert len(reference["metrics.csv"]) == 2 and total > 15

    # One study killed again and again, each child resuming what the previous one left, at seeded random points
    # p1 < p2 < p3 of the run's writes (child k dies at its write p_k - p_(k-1): about where the reference run
    # makes write p_k), before / in the middle of / after that write.
    rng = random.Random(12)
    points = sorted(rng.sample(range(1, total + 1), 3))
    run_dir = tmp_path / "killed"
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    previous = 0
    start = [config_path, "--run-dir", run_dir]
    for point, mode in zip(points, ("mid", "before", "after")):
        rc, err = run_child(start, kill_at=point - previous, mode=mode)  # the same command again resumes
        assert rc == -signal.SIGKILL, f"write {point - previous} ({mode}) was not reached\n{err}"
        previous = point
    # SIGTERM right after a seeded random write of what is left: the command stops (after the generation it is in,
    # or at once outside the generation loop) with one line saying how to resume, status 128 + SIGTERM
    point = rng.randint(1, max(1, (total - previous) // 2))
    rc, err = run_child(start, kill_at=point, kill_signal="SIGTERM")
    assert rc == 128 + signal.SIGTERM, f"write {point} was not reached\n{err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("metarl-gym er-mrl: SIGTERM: stopped"), err
    assert f"resume with `metarl-gym er-mrl --resume {run_dir}`" in lines[0], err
    rc, err = run_child(["--resume", run_dir])
    assert rc == 0, err
    assert outcome(run_dir) == reference
