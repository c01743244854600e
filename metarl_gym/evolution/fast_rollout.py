"""fast_rollout(): the population evaluated in blocks of rows, each block played to the end before the next.

:func:`~metarl_gym.evolution.rollout.rollout` steps the whole population at once: at P = 10,000 an MLP
3-32-32-1 re-reads ~48 MB of weights from memory every env step, so it runs at the memory-bandwidth bound.
Here a block of ``block_size`` individuals plays all its steps while its weights stay in cache, then the next
block starts. With ``compile=True`` a chunk of ``steps_per_call`` env steps (env physics and policy together)
is one ``torch.compile`` graph: inductor fuses each step into a few C++/OpenMP loops, removing the per-op
Python and dispatch overhead that small blocks would otherwise pay.

Plastic policies (Hebbian) benefit most: a block's weights *and* its per-synapse rule terms stay in cache for
the whole lifetime, and, compiled, a step's forward pass and weight update fuse into one loop per layer. The
lifetime state is drawn for the whole population exactly as ``rollout`` draws it, then sliced into blocks.

Scope (checked, with a clear error otherwise): one episode per individual (``env.num_envs == pop``) of an
unwrapped :class:`~metarl_gym.envs.base.TorchVectorEnv` with a time limit. Terminating envs work: a row stops
earning at its termination, as in ``rollout``. The fitness equals ``rollout(env, policy, params, seed=seed,
tasks=tasks)`` (bit for bit in eager mode on CPU; to float32 round-off, amplified by the dynamics, when
compiled). A policy that draws random numbers during the lifetime (the learned rule's noisy neurons) draws them
block by block: the same distribution, other samples, unless ``block_size`` covers the population. Compiling
needs a policy whose ``act`` / ``learn`` trace under ``torch.compile`` (MLP, Hebbian); others fall back to
eager with a warning.
"""

from __future__ import annotations

import copy
import math
import time
import warnings

import torch
from torch import Tensor
from torch.utils._pytree import tree_map

from ..agents.base import Policy, check_params
from ..envs.base import TorchVectorEnv


@torch.no_grad()
def fast_rollout(
    env: TorchVectorEnv,
    policy: Policy,
    params: Tensor,
    *,
    seed: int | None = None,
    tasks: dict[str, Tensor] | None = None,
    block_size: int | None = 1024,
    compile: bool = False,
    steps_per_call: int = 10,
    return_stats: bool = False,
):
    """Episode return of every individual, computed block by block.

    Args:
        env: an unwrapped TorchVectorEnv with ``num_envs == pop`` and ``max_episode_steps`` set.
        policy: a batched policy, static or plastic (its lifetime state persists through the episode).
        params: ``[pop, policy.num_params]``.
        seed: seeds the env reset (same seed, same start states and fitness as :func:`rollout`).
        tasks: ``{name: [pop]}`` task parameters per individual; default: the env's own.
        block_size: individuals per block (None: the whole population in one block). The last block is padded,
            so every block has the same shape and compiles once.
        compile: fuse ``steps_per_call`` steps into one ``torch.compile`` graph; falls back to eager (with a
            warning) if compilation fails.
        steps_per_call: env steps per compiled call.
        return_stats: also return ``{"env_steps", "episodes", "compile_s", "compiled"}`` (``compile_s``: wall time
            of the first block, which includes compilation; ``compiled``: whether the compiled path ran).

    Returns:
        fitness ``[pop]`` float32 (``-inf`` where the policy produced non-finite actions), and the stats dict if
        ``return_stats``.
    """
    base = _check(env, policy, params)
    pop = params.shape[0]
    horizon = int(base.max_episode_steps)
    device = params.device
    block = pop if block_size is None else max(1, min(int(block_size), pop))
    if steps_per_call < 1:
        raise ValueError(f"steps_per_call must be >= 1, got {steps_per_call}")

    reset_options = None
    if tasks is not None:
        reset_options = {"tasks": {k: torch.as_tensor(v, device=device) for k, v in tasks.items()}}
    env.reset(seed=seed, options=reset_options)  # the very start states rollout() would use
    start_state, start_tasks = base.state, dict(base.tasks)
    # the very lifetime state (e.g. random initial weights) rollout() would draw: same generator, same order
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    lifetime = policy.initial_state(params, generator)

    n_blocks = math.ceil(pop / block)
    padded = n_blocks * block
    index = torch.arange(padded, device=device).clamp_(max=pop - 1)  # pad with copies of the last row
    all_params = params.to(torch.float32)[index]
    all_state = start_state[index]
    all_tasks = {k: v[index] for k, v in start_tasks.items()}

    sub = copy.copy(base)  # a shallow twin of the env for one block of rows: its own state and tasks
    sub.num_envs = block
    runner = _Chunk(sub, policy)
    eager = step_fn = runner.steps  # (a bound method: `runner.steps is runner.steps` is False)
    if compile:
        step_fn = torch.compile(eager, dynamic=False)

    returns = torch.empty(padded, dtype=torch.float64, device=device)
    failed_all = torch.empty(padded, dtype=torch.bool, device=device)
    compiled = bool(compile)
    compile_s = 0.0
    for b in range(n_blocks):
        rows = slice(b * block, (b + 1) * block)
        t0 = time.perf_counter()
        p = all_params[rows].contiguous()
        state = all_state[rows].clone()
        block_tasks = {k: v[rows].clone() for k, v in all_tasks.items()}
        block_lifetime = _take_rows(lifetime, index[rows], pop)
        ret = torch.zeros(block, dtype=torch.float64, device=device)
        alive = torch.ones(block, dtype=torch.bool, device=device)
        failed = torch.zeros(block, dtype=torch.bool, device=device)
        done_steps = 0
        while done_steps < horizon:
            k = min(steps_per_call, horizon - done_steps)
            try:
                state, ret, alive, failed, block_lifetime = step_fn(p, state, block_tasks, ret, alive, failed, block_lifetime, k)
            except Exception as err:  # noqa: BLE001 - any compiler failure falls back to eager
                if step_fn is eager:
                    raise
                warnings.warn(f"fast_rollout: torch.compile failed ({type(err).__name__}: {err}); running eager", stacklevel=2)
                step_fn, compiled = eager, False
                state, ret, alive, failed, block_lifetime = step_fn(p, state, block_tasks, ret, alive, failed, block_lifetime, k)
            done_steps += k
        returns[rows] = ret
        failed_all[rows] = failed
        if b == 0:
            compile_s = time.perf_counter() - t0
    fitness = returns[:pop].to(torch.float32)
    fitness = torch.where(failed_all[:pop], -math.inf, fitness)
    if return_stats:
        stats = {"env_steps": pop * horizon, "episodes": pop, "compile_s": compile_s, "compiled": compiled}
        return fitness, stats
    return fitness


class _Chunk:
    """k env steps of one block: env hooks and policy, as one function of tensors (what torch.compile sees)."""

    def __init__(self, env: TorchVectorEnv, policy: Policy):
        self.env = env
        self.policy = policy

    def steps(self, params, state, tasks, ret, alive, failed, lifetime, k: int):
        env, policy = self.env, self.policy
        env.state, env.tasks = state, tasks
        for _ in range(k):
            obs = env._observe()
            # MLPPolicy.act and HebbianPolicy.act/learn have compile-friendly forms
            actions, lifetime = policy.act(params, obs, lifetime)
            if actions.is_floating_point():
                finite = torch.isfinite(actions.reshape(actions.shape[0], -1)).all(dim=1)
                failed = failed | (~finite & alive)
                actions = torch.nan_to_num(actions, nan=0.0, posinf=0.0, neginf=0.0).to(env.dtype)
            else:
                actions = actions.to(torch.int64)
            rewards, terminated = env._step(actions)
            lifetime = policy.learn(params, lifetime, rewards)
            ret = ret + torch.where(alive, rewards.to(torch.float32).to(torch.float64), 0.0)
            alive = alive & ~terminated
        return env.state, ret, alive, failed, lifetime


def _take_rows(tree, rows: Tensor, pop: int):
    """The lifetime state of the individuals ``rows`` (every per-individual tensor leaf indexed: copies)."""
    if tree is None:
        return None
    return tree_map(lambda t: t[rows] if isinstance(t, Tensor) and t.dim() > 0 and t.shape[0] == pop else t, tree)


def _check(env, policy: Policy, params: Tensor) -> TorchVectorEnv:
    check_params(params, policy.num_params)
    if not isinstance(env, TorchVectorEnv):
        raise ValueError(
            f"fast_rollout needs an unwrapped TorchVectorEnv (gym.make_vec(id, vectorization_mode='vector_entry_point')), "
            f"got {type(env).__name__}; use rollout() for wrapped or Gymnasium envs"
        )
    if env.num_envs != params.shape[0]:
        raise ValueError(f"fast_rollout plays one episode per individual: env.num_envs ({env.num_envs}) must equal pop ({params.shape[0]})")
    if env.max_episode_steps is None:
        raise ValueError("fast_rollout needs an env with max_episode_steps (a fixed horizon); use rollout() otherwise")
    return env
