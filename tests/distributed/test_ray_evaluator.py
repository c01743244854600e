"""Ray population evaluation == local evaluation, bit for bit, for torch, pybullet and Gymnasium envs."""

import os
import signal
import threading

import pytest
import torch

from metarl_gym.errors import UserError
from metarl_gym.distributed import LocalEvaluator, WorkerFailureError, build_evaluator
from metarl_gym.evolution.rollout import rollout
from metarl_gym.evolution.runner import build_env, build_policy, evaluation_seed

from distributed_helpers import evolve_config, random_params, wait_until_busy

GENERATION = 4

HEBBIAN = {"name": "hebbian", "kwargs": {"rule": "ABCD_lr", "hidden_sizes": [8], "init_weights": "uni", "output": "tanh"}}

CASES = {
    # torch-batched: reset draws every row from one generator; the Hebbian policy draws its initial weights too
    "torch-hebbian": dict(env_id="MetaRL/Pendulum-v0", env_kwargs={"max_episode_steps": 60}, policy=HEBBIAN, episodes=2),
    "torch-mlp": dict(env_id="MetaRL/CartPole-v1", env_kwargs={"max_episode_steps": 80}, episodes=2),
    "pybullet": dict(env_id="MetaRL/AntBullet-v0", env_kwargs={"max_episode_steps": 25}, episodes=1),
    "gymnasium": dict(env_id="Pendulum-v1", env_kwargs={"max_episode_steps": 30}, episodes=2),
    # Box2D: a reused env is not reset to a fresh env's state by reset(seed); slices build their own
    "box2d": dict(env_id="BipedalWalker-v3", env_kwargs={"max_episode_steps": 40}, episodes=1),
}


def whole_population_fitness(config, params, generation):
    """The runner's local evaluation: one rollout over the whole population with the generation's seed."""
    env = build_env(config, params.shape[0] * config["episodes"])
    policy = build_policy(config, env)
    copies = 1 if getattr(policy, "plastic", False) else config["episodes"]
    if copies != config["episodes"]:
        env.close()
        env = build_env(config, params.shape[0])
    fitness = rollout(env, policy, params, num_episodes=config["episodes"], seed=evaluation_seed(config["seed"], generation))
    env.close()
    return fitness


@pytest.mark.parametrize("case", sorted(CASES))
def test_ray_fitness_equals_local_fitness(ray_local, case):
    if case == "box2d":
        pytest.importorskip("Box2D")
    config = evolve_config(**CASES[case], pop=7, distributed={"slice_size": 3})  # slices 3, 3, 1
    params = random_params(config, 7)
    local = LocalEvaluator(config)
    expected, local_stats = local.evaluate(params, GENERATION)
    local.close()
    with build_evaluator(config) as evaluator:
        fitness, stats = evaluator.evaluate(params, GENERATION)
        again, _ = evaluator.evaluate(params, GENERATION)  # envs reused by other slices since: same fitness
    assert torch.isfinite(expected).all()
    assert torch.equal(fitness, expected)
    assert torch.equal(again, expected)
    assert stats["slices"] == 3 and stats["failures"] == 0
    assert stats["env_steps"] == local_stats["env_steps"] > 0
    if case == "torch-hebbian":
        # the slices' generators differ from the whole batch's: sliced fitness is its own (fixed) function
        assert not torch.equal(expected, whole_population_fitness(config, params, GENERATION))


@pytest.mark.parametrize("case", ["pybullet", "gymnasium"])
def test_per_row_seeded_envs_do_not_depend_on_the_slicing(case):
    """Row i of these vector envs is seeded seed + i, and slices keep each row's offset: with an MLP the sliced
    evaluation is the plain whole-population rollout."""
    config = evolve_config(**CASES[case], pop=5, distributed={"slice_size": 2})
    params = random_params(config, 5, seed=1)
    local = LocalEvaluator(config)
    fitness, _ = local.evaluate(params, GENERATION)
    local.close()
    assert torch.equal(fitness, whole_population_fitness(config, params, GENERATION))


def test_one_slice_is_the_runners_local_evaluation():
    config = evolve_config(**CASES["torch-hebbian"], pop=4, distributed={"slice_size": 4})
    params = random_params(config, 4, seed=2)
    local = LocalEvaluator(config)
    fitness, _ = local.evaluate(params, GENERATION)
    local.close()
    assert torch.equal(fitness, whole_population_fitness(config, params, GENERATION))


def _kill_mid_generation(evaluator, params):
    """Evaluate in a thread, SIGKILL the first worker once it is computing; return (fitness, stats) or the error."""
    out = {}

    def work():
        try:
            out["result"] = evaluator.evaluate(params, GENERATION)
        except Exception as error:  # noqa: BLE001  handed to the test
            out["error"] = error

    thread = threading.Thread(target=work)
    thread.start()
    wait_until_busy(evaluator.pids[0])
    os.kill(evaluator.pids[0], signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive()
    return out


KILL_CASE = dict(env_id="MetaRL/Pendulum-v0", env_kwargs={"max_episode_steps": 1000}, episodes=1, pop=8)


def test_killed_worker_slice_is_rerun_with_the_same_fitness(ray_local):
    config = evolve_config(**KILL_CASE, distributed={"slice_size": 2, "max_failures": 1})  # 4 slices on 2 workers
    params = random_params(config, 8, seed=3)
    local = LocalEvaluator(config)
    expected, _ = local.evaluate(params, GENERATION)
    local.close()
    with build_evaluator(config) as evaluator:
        killed = evaluator.pids[0]
        out = _kill_mid_generation(evaluator, params)
        assert "error" not in out, out.get("error")
        fitness, stats = out["result"]
        assert stats["failures"] == 1  # the kill landed mid-generation and its slice was re-run
        assert torch.equal(fitness, expected)
        assert killed not in ray_local.get([a.pid.remote() for a in evaluator.actors])  # replaced by a new worker


def test_more_lost_workers_than_max_failures_stop_with_a_clear_error(ray_local):
    config = evolve_config(**KILL_CASE, distributed={"slice_size": 2, "max_failures": 0})
    params = random_params(config, 8, seed=3)
    with build_evaluator(config) as evaluator:
        out = _kill_mid_generation(evaluator, params)
    assert isinstance(out.get("error"), WorkerFailureError)
    assert "max_failures=0" in str(out["error"]) and "--resume" in str(out["error"])


def test_a_bad_env_fails_at_build_with_its_own_message(ray_local):
    config = evolve_config(**CASES["torch-mlp"], pop=2, distributed={"num_workers": 1})
    config["env"]["kwargs"] = {"max_episode_steps": 80, "no_such_kwarg": 1}  # past the schema: fails in the worker
    with pytest.raises(UserError, match="could not build its env.*no_such_kwarg"):
        build_evaluator(config).close()
