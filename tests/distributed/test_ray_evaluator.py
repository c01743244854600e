"""One answer per individual: local and Ray evaluation, any slicing, any worker count, bit for bit, for torch,
pybullet and Gymnasium envs (individual j is keyed by (run seed, generation, j), never by its slice)."""

import pytest
import torch

from metarl_gym.errors import UserError
from metarl_gym.distributed import LocalBackend, WorkerFailureError, build_backend
from metarl_gym.evolution.evaluate import Evaluator

from distributed_helpers import evolve_config, random_params
from ray_faults import kill_worker_at, killed_worker

GENERATION = 4

HEBBIAN = {"name": "hebbian", "kwargs": {"rule": "ABCD_lr", "hidden_sizes": [8], "init_weights": "uni", "output": "tanh"}}
LEARNED_RULE = {"name": "learned_rule", "kwargs": {"hidden_sizes": [4], "sigma_init": 0.3}}

CASES = {
    # torch-batched, plastic: random initial weights per lifetime, two episodes in a row
    "torch-hebbian": dict(env_id="MetaRL/Pendulum-v0", env_kwargs={"max_episode_steps": 60}, policy=HEBBIAN, episodes=2),
    "torch-learned-rule": dict(env_id="MetaRL/Pendulum-v0", env_kwargs={"max_episode_steps": 40}, policy=LEARNED_RULE, episodes=2),
    "torch-mlp": dict(env_id="MetaRL/CartPole-v1", env_kwargs={"max_episode_steps": 80}, episodes=2),
    "pybullet": dict(env_id="MetaRL/AntBullet-v0", env_kwargs={"max_episode_steps": 25}, episodes=1),
    "gymnasium": dict(env_id="Pendulum-v1", env_kwargs={"max_episode_steps": 30}, episodes=2),
    # Box2D: a reused env is not reset to a fresh env's state by reset(seed); evaluations build their own
    "box2d": dict(env_id="BipedalWalker-v3", env_kwargs={"max_episode_steps": 40}, episodes=1),
}


def whole_population_fitness(config, params, generation):
    """One rollout over the whole population (no slices)."""
    evaluator = Evaluator(config)
    fitness, _ = evaluator.evaluate_generation(params, generation)
    evaluator.close()
    return fitness


def local_fitness(config, params, generation, slice_size):
    local = LocalBackend({**config, "distributed": {**config["distributed"], "backend": "local", "slice_size": slice_size}})
    fitness, stats = local.evaluate(params, generation)
    local.close()
    return fitness, stats


@pytest.mark.parametrize("case", sorted(CASES))
def test_local_slicing_does_not_change_fitness(case):
    if case == "box2d":
        pytest.importorskip("Box2D")
    config = evolve_config(**CASES[case], pop=7)
    params = random_params(config, 7) * (0.1 if "learned" in case else 1.0)
    expected = whole_population_fitness(config, params, GENERATION)
    assert torch.isfinite(expected).all()
    for slice_size in (1, 3, 7):
        fitness, stats = local_fitness(config, params, GENERATION, slice_size)
        assert torch.equal(fitness, expected), slice_size
        assert stats["slices"] == -(-7 // slice_size)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("workers", [1, 2])
def test_ray_fitness_equals_local_fitness(ray_local, case, workers):
    if case == "box2d":
        pytest.importorskip("Box2D")
    config = evolve_config(**CASES[case], pop=7, distributed={"num_workers": workers})  # slices of ceil(7 / workers)
    params = random_params(config, 7) * (0.1 if "learned" in case else 1.0)
    expected = whole_population_fitness(config, params, GENERATION)
    with build_backend(config) as backend:
        fitness, stats = backend.evaluate(params, GENERATION)
        again, _ = backend.evaluate(params, GENERATION)  # envs reused by other slices since: same fitness
    assert torch.equal(fitness, expected)
    assert torch.equal(again, expected)
    assert stats["slices"] == workers and stats["failures"] == 0
    assert stats["episode_returns"].shape == (7, config["episodes"])


# 4 slices on 2 workers; the worker that receives the slice at 2 SIGKILLs itself (tests/distributed/ray_faults.py)
KILL_CASE = dict(env_id="MetaRL/Pendulum-v0", env_kwargs={"max_episode_steps": 100}, episodes=1, pop=8)


def test_killed_worker_slice_is_rerun_with_the_same_fitness(ray_local, monkeypatch, tmp_path):
    config = evolve_config(**KILL_CASE, distributed={"slice_size": 2, "max_failures": 1})
    params = random_params(config, 8, seed=3)
    expected = whole_population_fitness(config, params, GENERATION)
    plan = kill_worker_at(monkeypatch, tmp_path, GENERATION, start=2)
    with build_backend(config) as evaluator:
        started = list(evaluator.pids)
        fitness, stats = evaluator.evaluate(params, GENERATION)
        killed = killed_worker(plan)
        assert killed in started
        assert stats["failures"] == 1  # the kill landed mid-generation and its slice was re-run
        assert torch.equal(fitness, expected)
        assert killed not in ray_local.get([a.pid.remote() for a in evaluator.actors])  # replaced by a new worker


def test_more_lost_workers_than_max_failures_stop_with_a_clear_error(ray_local, monkeypatch, tmp_path):
    config = evolve_config(**KILL_CASE, distributed={"slice_size": 2, "max_failures": 0})
    params = random_params(config, 8, seed=3)
    plan = kill_worker_at(monkeypatch, tmp_path, GENERATION, start=2)
    with build_backend(config) as evaluator:
        with pytest.raises(WorkerFailureError) as error:
            evaluator.evaluate(params, GENERATION)
    killed_worker(plan)
    assert "max_failures=0" in str(error.value) and "--resume" in str(error.value)


def test_a_bad_env_fails_at_build_with_its_own_message(ray_local):
    config = evolve_config(**CASES["torch-mlp"], pop=2, distributed={"num_workers": 1})
    config["env"]["kwargs"] = {"max_episode_steps": 80, "no_such_kwarg": 1}  # past the schema: fails in the worker
    with pytest.raises(UserError, match="could not build its env.*no_such_kwarg"):
        build_backend(config).close()


def _slow_starting_slice_worker(seconds):
    """A SliceWorker that takes ``seconds`` to start (defined in a function: Ray ships it by value)."""
    from metarl_gym.distributed import ray_evaluator

    class SlowSliceWorker(ray_evaluator.SliceWorker):
        def __init__(self, *args, **kwargs):
            import time

            time.sleep(seconds)
            super().__init__(*args, **kwargs)

    return SlowSliceWorker


def test_workers_not_placed_in_time_are_announced_then_awaited(ray_local, monkeypatch, capsys):
    """Workers that Ray has not started within connect_timeout_s (here: slow to start) get one line on stderr
    saying what they wait for; the run then goes on (before: a silent wait, minutes on a busy cluster)."""
    from metarl_gym.distributed import ray_evaluator

    config = evolve_config(**CASES["torch-mlp"], pop=4, distributed={"num_workers": 1, "connect_timeout_s": 0.2})
    monkeypatch.setattr(ray_evaluator, "SliceWorker", _slow_starting_slice_worker(2.0))
    with build_backend(config) as evaluator:
        fitness, _ = evaluator.evaluate(random_params(config, 4), GENERATION)
    err = capsys.readouterr().err
    assert "waiting for Ray to place 1 of 1 workers (1 CPU each); the cluster has" in err, err
    assert err.count("\n") == 1
    assert torch.isfinite(fitness).all()


def test_placement_notice_says_when_no_node_can_hold_a_worker(ray_local):
    from metarl_gym.distributed.ray_init import placement_notice
    from metarl_gym.distributed import resolve_distributed

    line = placement_notice(2, 2, resolve_distributed({"backend": "ray", "num_cpus_per_worker": 64}))
    assert line.startswith("waiting for Ray to place 2 of 2 workers (64 CPU each); the cluster has ")
    assert "of 2 CPUs free; no node of the cluster has that much" in line and "num_cpus_per_worker" in line
    fits = placement_notice(1, 2, resolve_distributed({"backend": "ray", "num_cpus_per_worker": 1, "num_gpus_per_worker": 0}))
    assert "they start when other jobs free that much" in fits and "GPU" not in fits
    assert "\n" not in line + fits
