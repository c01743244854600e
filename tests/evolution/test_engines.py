"""The blocked and loop engines of rollout() give the same fitness (eager: bit for bit) on every MetaRL torch env."""

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import metarl_gym  # noqa: F401
from metarl_gym.agents.hebbian import HebbianPolicy
from metarl_gym.agents.learned_rule import LearnedRulePolicy
from metarl_gym.agents.mlp import MLPPolicy
from metarl_gym.envs.wrappers import MaskVelocity
from metarl_gym.evolution.rollout import EarlyStop, rollout
from helpers import lifetime_keys

TORCH_ENVS = ["MetaRL/Pendulum-v0", "MetaRL/DoublePendulum-v0", "MetaRL/CartPole-v1", "MetaRL/PendulumSwingup-v1"]


def _env(env_id, n, horizon=40, **kwargs):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", max_episode_steps=horizon, **kwargs)


def _policy(kind, env):
    if kind == "mlp":
        return MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(8, 8))
    return HebbianPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(8, 8), rule="ABCD_lr")


def test_the_registry_holds_these_torch_envs():
    from metarl_gym.envs.base import TorchVectorEnv

    ids = [i for i in gym.registry if i.startswith("MetaRL/")]
    torch_ids = [i for i in ids if isinstance(_env(i, 1).unwrapped, TorchVectorEnv) and _env(i, 1).functional]
    assert set(TORCH_ENVS) <= set(torch_ids), torch_ids


@pytest.mark.parametrize("env_id", TORCH_ENVS)
@pytest.mark.parametrize("kind", ["mlp", "hebbian"])
def test_blocked_equals_loop_on_every_torch_env(env_id, kind):
    pop = 13
    env = _env(env_id, pop)
    policy = _policy(kind, env)
    params = 0.5 * policy.random_params(pop, generator=torch.Generator().manual_seed(4))
    expected, loop_stats = rollout(env, policy, params, seed=9, engine="loop", return_stats=True)
    for block_size in (None, 5, 13):
        got, stats = rollout(env, policy, params, seed=9, engine="blocked", block_size=block_size, return_stats=True)
        assert torch.equal(got, expected), (block_size, got - expected)
        assert stats["env_steps"] == loop_stats["env_steps"] and stats["engine"] == "blocked"
    assert loop_stats["engine"] == "loop"
    if kind == "hebbian":  # it really learns inside the episode
        frozen = HebbianPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(8, 8), plasticity=False)
        assert not torch.equal(rollout(env, frozen, params, seed=9, block_size=5), expected)


def test_copies_tasks_and_early_stop_agree():
    env = _env("MetaRL/PendulumSwingup-v1", 12, horizon=60)
    policy = _policy("mlp", env)
    params = policy.random_params(4, generator=torch.Generator().manual_seed(2))
    tasks = {"g": torch.tensor([2.0, 5.0, 9.81, 15.0])}
    for early_stop in (None, EarlyStop(patience=5, after=10)):
        expected, a = rollout(env, policy, params, num_episodes=3, seed=1, tasks=tasks, early_stop=early_stop,
                              engine="loop", return_stats=True)
        got, b = rollout(env, policy, params, num_episodes=3, seed=1, tasks=tasks, early_stop=early_stop,
                         block_size=5, return_stats=True)
        assert torch.equal(a.pop("episode_returns"), b.pop("episode_returns"))
        assert b["engine"] == "blocked" and torch.equal(got, expected) and a == {**b, "engine": "loop"}
    assert a["env_steps"] < 12 * 60  # early stop did end episodes


def test_auto_picks_the_loop_where_blocked_cannot_run():
    env = _env("MetaRL/CartPole-v1", 4)
    policy = _policy("mlp", env)
    params = policy.random_params(4, generator=torch.Generator().manual_seed(0))
    _, stats = rollout(env, policy, params, num_episodes=2, seed=0, return_stats=True)
    assert stats["engine"] == "loop"  # two episodes per row
    masked = MLPPolicy(MaskVelocity(env).single_observation_space, env.single_action_space)
    masked_params = torch.zeros(4, masked.num_params)
    _, stats = rollout(MaskVelocity(env), masked, masked_params, seed=0, return_stats=True)
    assert stats["engine"] == "loop"  # a wrapped env
    with pytest.raises(ValueError, match="one episode per row"):
        rollout(env, policy, params, num_episodes=2, engine="blocked")
    with pytest.raises(ValueError, match="unwrapped TorchVectorEnv"):
        rollout(MaskVelocity(env), masked, masked_params, engine="blocked")
    with pytest.raises(ValueError, match="compile=True needs the blocked engine"):
        rollout(env, policy, params, engine="loop", compile=True)
    with pytest.warns(UserWarning, match="running the loop eager"):
        rollout(env, policy, params, num_episodes=2, compile=True)
    for bad in (0, True, 2.5):
        with pytest.raises(ValueError, match="block_size"):
            rollout(env, policy, params, block_size=bad)
    with pytest.raises(ValueError, match="unknown engine"):
        rollout(env, policy, params, engine="fast")


def test_learned_rule_any_block_equals_loop():
    """The learned rule's noisy neurons draw keyed by (row, step): blocks of any size draw exactly as the loop."""
    env = _env("MetaRL/PendulumSwingup-v1", 6, horizon=30)
    policy = LearnedRulePolicy(env.single_observation_space, env.single_action_space, hidden_sizes=(4,), sigma_init=0.2)
    params = policy.random_params(6, generator=torch.Generator().manual_seed(2))
    expected = rollout(env, policy, params, seed=1, engine="loop")
    assert torch.equal(rollout(env, policy, params, seed=1, block_size=6), expected)
    for block_size in (1, 4, 5):
        assert torch.equal(rollout(env, policy, params, seed=1, block_size=block_size), expected)
    assert torch.isfinite(expected).all()


@pytest.mark.parametrize("kind", ["mlp", "hebbian"])
def test_compiled_blocked_matches_loop(kind, capfd):
    env = _env("MetaRL/PendulumSwingup-v1", 24, horizon=24)
    policy = _policy(kind, env)
    params = 0.3 * policy.random_params(24, generator=torch.Generator().manual_seed(3))
    expected = rollout(env, policy, params, seed=3, engine="loop")
    got, stats = rollout(env, policy, params, seed=3, block_size=16, compile=True, return_stats=True)
    # compiled kernels sum in another order (and use an exp-based tanh for Hebbian): float32 round-off only
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-3)
    assert stats["env_steps"] == 24 * 24 and stats["engine"] == "blocked"
    assert "compiling the blocked rollout kernel" in capfd.readouterr().err


def test_compile_auto_compiles_from_the_threshold_on(monkeypatch, capfd):
    """compile="auto" (the default) compiles the blocked engine from AUTO_COMPILE_MIN_ROWS rows on, never the loop."""
    import importlib

    rollout_module = importlib.import_module("metarl_gym.evolution.rollout")  # the module (the package exports the function)

    env = _env("MetaRL/PendulumSwingup-v1", 24, horizon=12)
    policy = _policy("mlp", env)
    params = 0.3 * policy.random_params(24, generator=torch.Generator().manual_seed(4))
    expected = rollout(env, policy, params, seed=4, engine="loop")
    monkeypatch.setattr(rollout_module, "AUTO_COMPILE_MIN_ROWS", 25)
    assert torch.equal(rollout(env, policy, params, seed=4), expected)  # 24 rows: eager, bit for bit
    assert "compiling" not in capfd.readouterr().err
    monkeypatch.setattr(rollout_module, "AUTO_COMPILE_MIN_ROWS", 24)
    import re
    import sys

    from tqdm.auto import tqdm

    with tqdm(total=3, desc="evolve", file=sys.stderr) as bar:  # a run's progress bar, drawn when the notice comes
        bar.update(1)
        got = rollout(env, policy, params, seed=4, block_size=8)
    err = capfd.readouterr().err
    # the notice is a line of its own above the bar (issue 19: it was printed into the bar's line)
    starts = [m.start() for m in re.finditer("metarl-gym: compiling the blocked rollout kernel", err)]
    assert starts and all(i == 0 or err[i - 1] in "\r\n" for i in starts), err
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "auto" never asks the loop engine to compile (compile=True would warn)
        rollout(env, policy, params, seed=4, num_episodes=2)  # two episodes per row: auto picks the loop
    assert "compiling" not in capfd.readouterr().err
    with pytest.raises(ValueError, match="True, False or 'auto'"):
        rollout(env, policy, params, compile="yes")


def test_default_block_size_is_cache_sized():
    """As many rows as COMPILED_BLOCK_BYTES / EAGER_BLOCK_BYTES of weights and plastic state hold (at least 64 /
    1,024 rows); the Hebbian rows (weights + rule terms) give smaller blocks than the MLP rows."""
    from metarl_gym.evolution.engines.blocked import COMPILED_BLOCK_BYTES, EAGER_BLOCK_BYTES, _row_bytes, default_block_size

    assert default_block_size(10**9, compile=True) == 64
    assert default_block_size(10**9, compile=False) == 1024
    assert default_block_size(1000, compile=False) == EAGER_BLOCK_BYTES // 1000
    assert default_block_size(1000, compile=True) == COMPILED_BLOCK_BYTES // 1000
    env = _env("MetaRL/PendulumSwingup-v1", 8, horizon=4)
    sizes = {}
    for kind in ("mlp", "hebbian"):
        policy = _policy(kind, env)
        params = policy.random_params(8, generator=torch.Generator().manual_seed(0))
        state = policy.initial_state(params, lifetime_keys(0, params))
        sizes[kind] = _row_bytes(params, state, 8)
        assert sizes[kind] >= policy.num_params * 4
    assert sizes["hebbian"] > sizes["mlp"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", ["mlp", "hebbian"])
def test_engines_on_cuda(kind):
    env = _env("MetaRL/PendulumSwingup-v1", 64, device="cuda")
    policy = _policy(kind, env)
    params = (0.5 * policy.random_params(64, generator=torch.Generator().manual_seed(1))).cuda()
    params[3] = float("nan")
    loop, stats = rollout(env, policy, params, seed=2, engine="loop", return_stats=True)
    blocked, blocked_stats = rollout(env, policy, params, seed=2, block_size=16, return_stats=True)
    assert loop.device.type == "cuda" and stats["num_nonfinite"] == blocked_stats["num_nonfinite"] == 1
    assert loop[3] == blocked[3] == float("-inf")
    torch.testing.assert_close(blocked, loop, rtol=1e-4, atol=1e-3)  # cuBLAS may pick other kernels per batch size


COMPILE_DISCRETE = """
import torch
from metarl_gym.agents import MLPPolicy
from metarl_gym.envs import make
from metarl_gym.evolution import rollout
env = make("MetaRL/CartPole-v1", num_envs=16, max_episode_steps=20)
policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[4])
params = 0.3 * policy.random_params(16, generator=torch.Generator().manual_seed(0))
params[3] = float("nan")  # a marked row: bound_actions, invalid_action_rows and screen_actions all see it
expected = rollout(env, policy, params, seed=1, engine="loop")
got = rollout(env, policy, params, seed=1, block_size=16, compile=True)
import json
print(json.dumps([expected.tolist(), got.tolist()]))  # -Infinity for the marked row
"""


def test_compiled_rollout_on_a_discrete_env_compiles_cleanly(tmp_path):
    """Issue 19's newcomer item "the compile notice breaks the progress bar", on a Discrete env: ``int(space.start)``
    in the compiled step failed the inductor backend (``aten._local_scalar_dense``), so compiling CartPole printed
    ~330 lines of torch._dynamo warnings over the bar (and those frames ran eager). A subprocess: torch's log
    handler holds the stderr of the process that imported it, which pytest's capture does not see."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(metarl_gym.__file__).parent.parent), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", COMPILE_DISCRETE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "compiling the blocked rollout kernel" in done.stderr
    assert "Backend compiler" not in done.stderr and "torch/_dynamo" not in done.stderr, done.stderr[-3000:]
    expected, got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got[3] == expected[3] == -math.inf
    assert sum(math.isfinite(e) for e in expected) == 15
    assert max(abs(g - e) for g, e in zip(got, expected) if math.isfinite(e)) <= 1  # float32 round-off: a step at most
