"""Record what a policy sees and does: (observation, action) rows of its episodes, for behaviour cloning.

The ga-openai-gym seed distils its evolved teachers into small students (bipedalwalker/offline_learning) and trains
a multitask network on their logged behaviour (multitask_learning); both start from such rows. The episodes are the
ones :func:`~metarl_gym.evolution.rollout.rollout` plays: row i is keyed ``keys.key(seed, i)`` (its start state
and the policy's lifetime draws), so the recorded returns equal ``rollout(env, policy, params, seed=seed)``.
"""

from __future__ import annotations

from typing import NamedTuple

import gymnasium as gym
import torch
from torch import Tensor

from ..keys import row_keys
from .engines import reset_seeds


class Recording(NamedTuple):
    """Rows of every step each env row took before its episode ended, step by step (all rows' step 0 first).

    Attributes:
        observations: ``[steps, *obs_shape]`` the observation each action was chosen on.
        actions: ``[steps, *action_shape]`` the actions.
        returns: ``[rows]`` float64, each row's episode return.
    """

    observations: Tensor
    actions: Tensor
    returns: Tensor


@torch.no_grad()
def record_episodes(env: gym.vector.VectorEnv, policy, params: Tensor, *, seed: int) -> Recording:
    """Play one episode per env row and keep every (observation, action) pair of it.

    Args:
        env: a vector env returning torch tensors (:func:`metarl_gym.envs.make`), one row per genome.
        policy: the batched policy.
        params: ``[env.num_envs, policy.num_params]``, row i plays env row i (``expand`` one genome to record
            several of its episodes).
        seed: the evaluation seed: row i is keyed ``keys.key(seed, i)``, as ``rollout`` keys individual i.

    Returns:
        a :class:`Recording`.
    """
    rows = env.num_envs
    if params.ndim != 2 or params.shape[0] != rows:
        raise ValueError(f"params must be [num_envs={rows}, num_params], got {tuple(params.shape)}")
    keys = row_keys(seed, rows, device=params.device)
    obs, _ = env.reset(seed=reset_seeds(env, keys))
    state = policy.initial_state(params, keys)
    alive = torch.ones(rows, dtype=torch.bool, device=params.device)
    returns = torch.zeros(rows, dtype=torch.float64, device=params.device)
    observations, actions = [], []
    while bool(alive.any()):
        action, state = policy.act(params, obs, state)
        observations.append(obs[alive].clone())
        actions.append(action[alive].clone())
        obs, rewards, terminated, truncated, _ = env.step(action)
        rewards = rewards.to(params.device)
        returns += torch.where(alive, rewards.to(torch.float64), 0.0)
        state = policy.learn(params, state, rewards)
        alive &= ~(terminated | truncated).to(params.device)
    return Recording(torch.cat(observations), torch.cat(actions), returns)


__all__ = ["Recording", "record_episodes"]
