"""ray_map / the ER-MRL map on Ray: results in spec order, equal to the local map, lost workers re-run."""

import csv
import os

import pytest

from metarl_gym.distributed import WorkerFailureError, ray_map

from helpers import tiny_study


def test_results_come_back_in_spec_order(ray_local):
    def square(spec):  # nested: Ray ships it by value
        return {"id": spec["id"], "value": spec["id"] ** 2, "pid": os.getpid()}

    results = ray_map(square, [{"id": i} for i in range(7)], {"num_workers": 2})
    assert [r["value"] for r in results] == [i**2 for i in range(7)]
    assert os.getpid() not in {r["pid"] for r in results}  # they ran in Ray workers
    assert ray_map(square, [], {"num_workers": 2}) == []


def test_a_crashed_worker_is_rerun_and_job_errors_are_raised(ray_local, tmp_path):
    marker = tmp_path / "crashed"

    def crash_once(spec):
        if spec == 2 and not marker.exists():
            marker.write_text("x")
            os._exit(1)  # the worker process dies mid-task
        return spec * 10

    assert ray_map(crash_once, [0, 1, 2, 3], {"num_workers": 2, "max_failures": 1}) == [0, 10, 20, 30]
    assert marker.exists()

    marker.unlink()
    with pytest.raises(WorkerFailureError, match="max_failures=0"):
        ray_map(crash_once, [0, 1, 2, 3], {"num_workers": 2, "max_failures": 0})

    def broken(spec):
        raise KeyError(f"spec {spec} lacks a key")

    with pytest.raises(KeyError, match="spec 1 lacks a key"):  # a bug is not retried: raised as itself
        ray_map(broken, [1], {"num_workers": 1, "max_failures": 3})


def test_er_mrl_study_on_ray_equals_the_local_study(ray_local, tmp_path):
    er_mrl = pytest.importorskip("metarl_gym.baselines.er_mrl")
    config = tiny_study(search={"generations": 1, "pop_size": 6, "sigma0": 0.3})
    local = er_mrl.run_er_mrl(config, tmp_path / "local", progress=False, test=False)
    on_ray = er_mrl.run_er_mrl({**config, "distributed": {"backend": "ray", "num_workers": 2}}, tmp_path / "ray", progress=False, test=False)
    assert on_ray["best"] == local["best"]
    assert metrics_without_wall_time(tmp_path / "ray") == metrics_without_wall_time(tmp_path / "local")


def metrics_without_wall_time(run_dir):
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows
    return [{k: v for k, v in row.items() if "wall" not in k} for row in rows]
