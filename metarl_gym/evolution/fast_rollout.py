"""Deprecated: ``fast_rollout`` is ``rollout(..., engine="blocked")``; kept importable until the runner switches.

The blocked engine now lives in :mod:`metarl_gym.evolution.engines.blocked`; call
:func:`metarl_gym.evolution.rollout.rollout` with ``engine=``, ``block_size=`` and ``compile=``.
"""

from __future__ import annotations

from torch import Tensor

from ..agents.base import Policy
from .rollout import rollout


def fast_rollout(env, policy: Policy, params: Tensor, *, seed: int | None = None, tasks: dict | None = None,
                 block_size: int | None = 1024, compile: bool = False, steps_per_call: int = 10,
                 return_stats: bool = False):
    """``rollout(env, policy, params, engine="blocked", ...)``; ``block_size=None`` is one block of every row.

    ``steps_per_call`` is accepted for old callers and not used: the blocked engine compiles
    ``engines.ALIVE_CHECK_EVERY`` steps per call.
    """
    if steps_per_call < 1:
        raise ValueError(f"steps_per_call must be >= 1, got {steps_per_call}")
    return rollout(env, policy, params, seed=seed, tasks=tasks, engine="blocked",
                   block_size=env.num_envs if block_size is None else block_size, compile=compile,
                   return_stats=return_stats)
