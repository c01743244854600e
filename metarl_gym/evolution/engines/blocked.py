"""The blocked engine: blocks of rows played to the end one after another, through the env's pure functions.

Stepping a whole population at once (the loop engine) re-reads every individual's weights from memory at every
env step: at P = 10,000 an MLP 3-32-32-1 is ~46 MB per step, so it runs at the memory-bandwidth bound. Here a
block of ``block_size`` rows plays its whole episode while its weights (and, for plastic policies, its per-synapse
rule terms) stay in the core's cache, then the next block starts. The env is driven through
``env.transition`` / ``env.observe`` (pure functions of a slice of rows), never through its stateful ``step``.

With ``compile=True``, :data:`~metarl_gym.evolution.engines.ALIVE_CHECK_EVERY` env steps (physics and policy
together) become one ``torch.compile`` graph, compiled once per (env, policy, block shape) and cached for the
process; inductor fuses each step into a few loops, removing the per-op dispatch cost that blocks pay in eager
torch. A one-line notice goes to stderr while a kernel compiles (tens of seconds on CPU).

Equivalence: the start states, tasks and lifetime state are drawn for all rows exactly as the loop engine draws
them, then sliced, and every draw during the lifetime (the learned rule's noise) is keyed by the row and the step
(:mod:`metarl_gym.keys`), so eager fitness equals the loop's bit for bit on CPU, for any block size (compiled:
float32 round-off, which chaotic dynamics amplify).
"""

from __future__ import annotations

import math
import sys
import warnings

import torch
from torch import Tensor
from torch.utils._pytree import tree_leaves, tree_map

from ...agents.base import Policy
from ...envs.base import TorchVectorEnv
from . import ALIVE_CHECK_EVERY, nonfinite_params, nonfinite_state, row_keys, screen_actions

COMPILED_BLOCK_BYTES = 10 * 2**20
"""Bytes of per-row weights and lifetime state per block of the compiled engine when ``block_size=None``. A
compiled step is a few fused loops, so the block only has to stay in cache for its whole lifetime. Measured on
one thread: MLP 3-32-32-1 (9.7 KB per row) at P = 10,000: 4.7 / 5.5 / 5.9 / 5.4 M env-steps/s in blocks of
256 / 512 / 1,024 / 2,048 rows; Hebbian ABCD_lr on it (46 KB per row) at P = 1,000: 1.19 / 1.13 / 0.80 M in
blocks of 128 / 256 / 1,000."""

EAGER_BLOCK_BYTES = 128 * 2**20
"""The same for the eager engine. Eager torch pays a fixed dispatch cost per op and step (~30 ops), so eager
blocks must be large; only when a block's weights would stream from DRAM (Hebbian rules) do smaller blocks win.
Measured at P = 10,000 on one thread: MLP 0.94 / 1.19 / 1.62 M env-steps/s in blocks of 1,024 / 4,096 /
10,000 rows; Hebbian ABCD_lr 0.45 / 0.41 / 0.21 M."""


def default_block_size(row_bytes: int, compile: bool) -> int:
    """Rows per block when the caller gives none: as many rows as :data:`COMPILED_BLOCK_BYTES` (at least 64) or
    :data:`EAGER_BLOCK_BYTES` (at least 1,024) hold."""
    if compile:
        return max(64, COMPILED_BLOCK_BYTES // max(1, row_bytes))
    return max(1024, EAGER_BLOCK_BYTES // max(1, row_bytes))


def blocked_unsupported(env, episodes_per_row: int) -> str | None:
    """Why the blocked engine cannot play this evaluation (None: it can)."""
    if not isinstance(env, TorchVectorEnv):
        return (f"needs an unwrapped TorchVectorEnv (gym.make_vec(id, vectorization_mode='vector_entry_point')), "
                f"got {type(env).__name__}")
    if not getattr(env, "functional", False):
        return f"needs a functional env (env.functional); {type(env).__name__} simulates outside torch"
    if env.max_episode_steps is None:
        return "needs an env with max_episode_steps (a fixed horizon)"
    if episodes_per_row != 1:
        return (f"plays one episode per row (num_episodes == num_envs / pop); here each row plays {episodes_per_row} "
                "episodes in a row")
    return None


def run_blocked(
    env: TorchVectorEnv,
    policy: Policy,
    params: Tensor,
    *,
    num_episodes: int,
    seed: int | None,
    tasks: dict[str, Tensor] | None,
    early_stop,
    block_size: int | None,
    compile: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Play every row's one episode block by block.

    Args: as :func:`~metarl_gym.evolution.rollout.rollout` (already checked there, including
        :func:`blocked_unsupported`); ``block_size`` rows per block, None: :func:`default_block_size` (the last
        block is padded with copies of the last row when compiling, so every block has one shape and compiles once).

    Returns:
        ``(returns [N, 1] float64, failed [N] bool, env_steps, episodes)``, the last two as 0-d int64 tensors.
    """
    pop, n = params.shape[0], env.num_envs
    copies = n // pop
    device = params.device
    horizon = int(env.max_episode_steps)
    row_params = params.repeat_interleave(copies, dim=0) if copies > 1 else params

    reset_options = None
    if tasks is not None:
        reset_options = {"tasks": {k: torch.as_tensor(v, device=device).repeat_interleave(copies) for k, v in tasks.items()}}
    keys = row_keys(seed, pop, copies, device)
    env.reset(seed=keys, options=reset_options)  # the very start states and tasks the loop engine would use
    start_state, start_tasks = env.state.clone(), {k: v.clone() for k, v in env.tasks.items()}
    lifetime = policy.initial_state(row_params, keys)  # the very lifetime state the loop engine would draw

    if block_size is None:
        block_size = default_block_size(_row_bytes(row_params, lifetime, n), compile)
        block_size = math.ceil(n / math.ceil(n / block_size))  # equal blocks: no padded rows in the last one
    block = max(1, min(int(block_size), n))
    n_blocks = math.ceil(n / block)
    kernel = _kernel(env, policy, early_stop, compile)
    space = env.single_action_space
    returns = torch.empty(n, dtype=torch.float64, device=device)
    failed_all = torch.empty(n, dtype=torch.bool, device=device)
    env_steps = torch.zeros((), dtype=torch.int64, device=device)
    for b in range(n_blocks):
        lo, hi = b * block, min((b + 1) * block, n)
        if compile and hi - lo < block:  # pad with copies of the last row: one shape, one compilation
            rows = torch.arange(lo, lo + block, device=device).clamp_(max=n - 1)
        else:
            rows = slice(lo, hi)
        p = row_params[rows].contiguous()
        state = start_state[rows].clone()
        block_tasks = {k: v[rows].clone() for k, v in start_tasks.items()}
        block_life = _take_rows(lifetime, rows, n)
        width = p.shape[0]
        ret = torch.zeros(width, dtype=torch.float64, device=device)
        alive = torch.ones(width, dtype=torch.bool, device=device)
        failed = nonfinite_params(p)
        negative_run = torch.zeros(width, dtype=torch.int64, device=device)
        clock = torch.zeros((), dtype=torch.int64, device=device)
        lived = torch.zeros(width, dtype=torch.int64, device=device)  # steps each row was alive
        t = 0
        while t < horizon:
            k = min(ALIVE_CHECK_EVERY, horizon - t)
            carry = (state, ret, alive, failed, block_life, negative_run, clock, lived)
            carry = kernel(p, block_tasks, carry, k, space)
            state, ret, alive, failed, block_life, negative_run, clock, lived = carry
            t += k
            if t < horizon and not bool(alive.any()):  # every row terminated: the rest would earn nothing
                break
        bad_state = nonfinite_state(policy, block_life)
        if bad_state is not None:
            failed = failed | bad_state
        real = hi - lo
        returns[lo:hi] = ret[:real]
        failed_all[lo:hi] = failed[:real]
        env_steps += lived[:real].sum()
    episodes = torch.full((), n, dtype=torch.int64, device=device)  # every row ends its one episode
    return returns[:, None], failed_all, env_steps, episodes


class _Steps:
    """k env steps of one block: env functions and policy as one function of tensors (what torch.compile sees)."""

    def __init__(self, env: TorchVectorEnv, policy: Policy, early_stop):
        self.env, self.policy, self.early_stop = env, policy, early_stop

    def __call__(self, params, tasks, carry, k: int, space):
        env, policy, early_stop = self.env, self.policy, self.early_stop
        state, ret, alive, failed, lifetime, negative_run, clock, lived = carry
        for _ in range(k):
            obs = env.observe(state)
            actions, lifetime = policy.act(params, obs, lifetime)  # MLP and Hebbian have compile-friendly forms
            actions, bad = screen_actions(actions, space)
            failed = failed | (bad & alive)
            state, rewards, terminated = env.transition(state, tasks, env.check_actions(actions, validate=False))
            rewards = rewards.to(torch.float32)  # what env.step returns
            lived = lived + alive
            ret = ret + torch.where(alive, rewards.to(torch.float64), 0.0)
            lifetime = policy.learn(params, lifetime, rewards)
            done = terminated
            if early_stop is not None:
                clock = clock + 1
                negative = (rewards < 0) & (clock > early_stop.after)
                negative_run = torch.where(negative, negative_run + 1, 0)
                done = done | (negative_run > early_stop.patience)
            alive = alive & ~done
        return state, ret, alive, failed, lifetime, negative_run, clock, lived


_KERNELS: dict[tuple, tuple] = {}
_NOTIFIED: set = set()


def _kernel(env: TorchVectorEnv, policy: Policy, early_stop, compile: bool):
    """The step function of a block: eager, or compiled once per (env, policy, early stop) and cached.

    torch.compile specialises the compiled function to each block shape and step count it sees (``dynamic=False``)
    and keeps those graphs, so the blocks of one evaluation, and later evaluations of the same shapes, reuse them.
    """
    steps = _Steps(env, policy, early_stop)
    if not compile:
        return steps
    key = (id(env), id(policy), early_stop)
    hit = _KERNELS.get(key)
    if hit is None or hit[0] is not env or hit[1] is not policy:  # the entry keeps env and policy: ids stay unique
        if len(_KERNELS) >= 16:
            _KERNELS.clear()
        hit = _KERNELS[key] = (env, policy, torch.compile(steps, dynamic=False), [False])
    _, _, compiled, broken = hit

    def call(params, tasks, carry, k, space):
        if broken[0]:
            return steps(params, tasks, carry, k, space)
        shape = (key, tuple(params.shape), k)
        if shape not in _NOTIFIED:
            _NOTIFIED.add(shape)
            from tqdm.auto import tqdm

            # tqdm.write: the notice goes above a running progress bar instead of through it
            tqdm.write(f"metarl-gym: compiling the blocked rollout kernel for {type(env).__name__} + {type(policy).__name__}, "
                       f"block of {params.shape[0]} rows x {k} steps (once per shape; tens of seconds on CPU)", file=sys.stderr)
        try:
            return compiled(params, tasks, carry, k, space)
        except Exception as err:  # noqa: BLE001 - compilation is an optimisation: fall back to eager
            warnings.warn(f"rollout: torch.compile failed ({type(err).__name__}: {err}); running eager", stacklevel=3)
            broken[0] = True
            return steps(params, tasks, carry, k, space)

    return call


def _row_bytes(row_params: Tensor, lifetime, n: int) -> int:
    """Bytes one row occupies: its params plus every per-row leaf of its lifetime state (plastic weights, ...)."""
    total = row_params[0].numel() * row_params.element_size()
    for leaf in tree_leaves(lifetime):
        if isinstance(leaf, Tensor) and leaf.dim() > 0 and leaf.shape[0] == n:
            total += leaf[0].numel() * leaf.element_size()
    return total


def _take_rows(tree, rows, n: int):
    """The lifetime state of ``rows`` (a slice or an index tensor): every per-row tensor leaf ``[n, ...]`` indexed."""
    if tree is None:
        return None
    return tree_map(lambda t: t[rows] if isinstance(t, Tensor) and t.dim() > 0 and t.shape[0] == n else t, tree)
