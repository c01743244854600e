"""`metarl-gym evolve ... distributed.backend=ray` end to end: the local run's metrics, and exact resume after SIGKILL."""

import csv
import signal
from pathlib import Path

import torch
import yaml

from metarl_gym.cli import main
from ray_faults import kill_worker_at, killed_worker
from write_faults import run_child

# A Gymnasium id through the generic path: its rows are seeded seed + i, so with an MLP the two Ray slices of
# each generation give exactly the runner's one whole-population local rollout.
CONFIG = {
    "env": {"id": "Pendulum-v1", "kwargs": {"max_episode_steps": 20}},
    "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4]}},
    "strategy": {"name": "ga", "pop_size": 12, "kwargs": {"num_survivors": 4, "elitism": 2, "mutation_std": 0.3}},
    "generations": 12,
    "episodes": 1,
    "seed": 5,
}
RAY = ["distributed.backend=ray", "distributed.num_workers=2"]


def metrics_rows(run_dir):
    with open(Path(run_dir) / "metrics.csv") as f:
        rows = [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(f)]
    return rows


def best(run_dir):
    return torch.load(Path(run_dir) / "best.pt", weights_only=True)


def test_evolve_on_ray_equals_local_and_resumes_after_sigkill(ray_local, tmp_path, capsys, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    evolve = ["evolve", str(path), "--no-progress"]
    assert main(evolve + ["--run-dir", str(tmp_path / "local")]) == 0

    # On this session's Ray with max_failures=0: the worker that gets generation 2's first slice dies (SIGKILL);
    # the run stops with a one-line error (exit 2) and resumes from its checkpoint to the local run's result.
    on_ray = tmp_path / "ray"
    plan = kill_worker_at(monkeypatch, tmp_path, generation=2, start=0)
    assert main(evolve + ["--run-dir", str(on_ray), "distributed.max_failures=0"] + RAY) == 2
    err = capsys.readouterr().err
    assert "max_failures=0" in err and err.count("\n") == 1, err
    killed_worker(plan)
    monkeypatch.undo()
    assert len(metrics_rows(on_ray)) == 2
    assert main(["evolve", "--resume", str(on_ray), "--no-progress"]) == 0
    assert metrics_rows(on_ray) == metrics_rows(tmp_path / "local")
    assert torch.equal(best(on_ray)["params"], best(tmp_path / "local")["params"])

    # A separate process starts its own local Ray; it SIGKILLs itself right after generation 1's metrics row
    # (tests/write_faults.py); then resume here.
    killed = tmp_path / "killed"
    rc, err = run_child(evolve + ["--run-dir", str(killed)] + RAY, kill_at=2, kill_file="metrics.csv")
    assert rc == -signal.SIGKILL, err
    assert len(metrics_rows(killed)) == 2
    assert main(["evolve", "--resume", str(killed), "--no-progress"]) == 0
    assert metrics_rows(killed) == metrics_rows(tmp_path / "local")
    assert torch.equal(best(killed)["params"], best(tmp_path / "local")["params"])
    assert best(killed)["fitness"] == best(tmp_path / "local")["fitness"]


def test_torch_env_run_is_the_same_local_sliced_and_on_ray(ray_local, tmp_path):
    """Issue 18's regression: a Hebbian policy (random initial weights) on a torch env gave other metrics with
    distributed.slice_size or on Ray. Individuals are keyed by (run seed, generation, index): all runs agree."""
    config = {
        "env": {"id": "MetaRL/Pendulum-v0", "kwargs": {"max_episode_steps": 30}},
        "policy": {"name": "hebbian", "kwargs": {"rule": "ABCD_lr", "hidden_sizes": [4], "init_weights": "uni", "output": "tanh"}},
        "strategy": {"name": "openai_es", "pop_size": 8},
        "generations": 3,
        "episodes": 1,
        "seed": 2,
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    evolve = ["evolve", str(path), "--no-progress"]
    assert main(evolve + ["--run-dir", str(tmp_path / "plain")]) == 0
    assert main(evolve + ["--run-dir", str(tmp_path / "sliced"), "distributed.slice_size=3"]) == 0
    assert main(evolve + ["--run-dir", str(tmp_path / "ray")] + RAY) == 0  # ceil(8 / 2) per worker
    assert metrics_rows(tmp_path / "ray") == metrics_rows(tmp_path / "plain") == metrics_rows(tmp_path / "sliced")
    assert torch.equal(best(tmp_path / "ray")["params"], best(tmp_path / "plain")["params"])
