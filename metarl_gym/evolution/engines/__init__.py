"""The two evaluation engines behind :func:`metarl_gym.evolution.rollout.rollout` (private: call ``rollout``).

* :mod:`.loop` steps the whole batch through ``env.step`` / ``env.reset``: any vector env, any number of
  episodes per row, early stopping, wrappers.
* :mod:`.blocked` plays blocks of rows to the end one after another through the env's pure
  ``transition`` / ``observe``, so a block's weights stay in cache; optionally compiled.

Both share the lifetime conventions below, so they give the same fitness (bit for bit, eager, on CPU).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...keys import row_keys  # noqa: F401  (the engines' row keys)
from ...agents.base import Policy, discrete_start, invalid_action_rows
from ...envs.base import TorchVectorEnv

ALIVE_CHECK_EVERY = 10
"""Engines read "is any row still alive?" on the host once every this many steps (one device sync per 10 steps
instead of one per step); a fixed-horizon episode also ends exactly at its last step without a check. Steps run
after every row has finished earn nothing and are not counted."""


def reset_seeds(env, keys: Tensor):
    """What ``env.reset(seed=...)`` takes to give row i the key ``keys[i]``: the tensor for a TorchVectorEnv
    (wrapped or not), N non-negative ints for Gymnasium's own vector envs (row i seeds its env with it)."""
    if isinstance(env.unwrapped, TorchVectorEnv):
        return keys
    return (keys & (2**63 - 1)).tolist()


def nonfinite_params(params: Tensor) -> Tensor:
    """``[rows]`` bool: rows of ``params [rows, D]`` holding NaN or inf."""
    return ~torch.isfinite(params).all(dim=1)


def screen_actions(actions: Tensor, action_space) -> tuple[Tensor, Tensor]:
    """``(actions safe to step, bad [rows])``: rows marked non-finite by the policy are replaced, never stepped.

    Box rows become 0 and Discrete rows ``start``; the caller scores the individual ``-inf``. No host sync.
    """
    bad = invalid_action_rows(actions, action_space)
    if actions.is_floating_point():
        safe = torch.nan_to_num(actions, nan=0.0, posinf=0.0, neginf=0.0)
    else:
        start = discrete_start(action_space, actions) if hasattr(action_space, "start") else 0
        safe = torch.where(bad, start, actions)
    return safe, bad


def nonfinite_state(policy: Policy, state) -> Tensor | None:
    """``[rows]`` bool: rows whose plastic state went non-finite (None for policies without one)."""
    finite = policy.state_is_finite(state)
    return None if finite is None else ~finite
