"""The loop engine: every row steps together through ``env.step``; finished rows restart by partial resets."""

from __future__ import annotations

import gymnasium as gym
import torch
from gymnasium.vector import AutoresetMode
from torch import Tensor

from ...agents.base import Policy
from ...envs.base import TorchVectorEnv
from . import ALIVE_CHECK_EVERY, nonfinite_params, nonfinite_state, reset_seeds, row_keys, screen_actions


def run_loop(
    env: gym.vector.VectorEnv,
    policy: Policy,
    params: Tensor,
    *,
    num_episodes: int,
    seed: int | None,
    tasks: dict[str, Tensor] | None,
    early_stop,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Play every row's episodes through the stateful env API.

    Args: as :func:`~metarl_gym.evolution.rollout.rollout` (already checked there).

    Returns:
        ``(returns [N, episodes per row] float64, failed [N] bool, env_steps, episodes)``, the last two as 0-d
        int64 tensors on the device (read once by the caller: no per-step host sync).
    """
    pop, n = params.shape[0], env.num_envs
    copies = n // pop
    episodes_per_row = num_episodes // copies
    device = params.device
    row_params = params.repeat_interleave(copies, dim=0) if copies > 1 else params
    base = env.unwrapped if isinstance(env.unwrapped, TorchVectorEnv) else None
    space = env.single_action_space

    reset_options = {}
    if tasks is not None:
        reset_options["tasks"] = {k: torch.as_tensor(v, device=device).repeat_interleave(copies) for k, v in tasks.items()}
    # Rows are restarted by partial resets right away (no Gymnasium next-step dummy step), so a plastic
    # policy never learns from a step that did not happen.
    same_step = env.metadata.get("autoreset_mode") == AutoresetMode.SAME_STEP

    keys = row_keys(seed, pop, copies, device)
    obs, _ = env.reset(seed=reset_seeds(env, keys), options=reset_options or None)
    if base is not None and base.task_ranges and tasks is None:
        # One task per lifetime: the draw of this first reset is kept for all the row's later episodes.
        reset_options["tasks"] = {k: v.clone() for k, v in base.tasks.items()}
    state = policy.initial_state(row_params, keys)

    returns = torch.zeros(n, episodes_per_row, dtype=torch.float64, device=device)
    current = torch.zeros(n, dtype=torch.float64, device=device)  # return of each row's running episode
    episodes = torch.zeros(n, dtype=torch.int64, device=device)
    alive = torch.ones(n, dtype=torch.bool, device=device)
    failed = nonfinite_params(row_params)
    negative_run = torch.zeros(n, dtype=torch.int64, device=device)
    episode_steps = torch.zeros(n, dtype=torch.int64, device=device)
    env_steps = torch.zeros((), dtype=torch.int64, device=device)
    # With a known horizon and one episode per row, the last step is known: no alive check needed there.
    last_step = base.max_episode_steps if base is not None and episodes_per_row == 1 else None
    step = 0
    while True:
        if step == last_step or (step % ALIVE_CHECK_EVERY == 0 and not bool(alive.any())):
            break
        actions, state = policy.act(row_params, obs, state)
        actions, bad = screen_actions(actions, space)
        failed |= bad & alive
        obs, rewards, terminated, truncated, _ = env.step(actions)
        rewards = rewards.to(device)
        env_steps += alive.sum()
        current += torch.where(alive, rewards.to(torch.float64), 0.0)
        state = policy.learn(row_params, state, rewards)
        env_done = (terminated | truncated).to(device)
        done = env_done
        if early_stop is not None:
            episode_steps += 1
            negative = (rewards < 0) & (episode_steps > early_stop.after)
            negative_run = torch.where(negative, negative_run + 1, 0)
            done = done | (negative_run > early_stop.patience)
        step += 1
        if episodes_per_row == 1:  # nothing restarts: no host sync at all
            episodes += (done & alive).long()
            alive &= ~done
            continue
        if bool(done.any()):  # restarts need the mask on the host: one sync per step for multi-episode rows
            finished = done & alive
            column = episodes.clamp(max=episodes_per_row - 1)[:, None]
            returns.scatter_(1, column, torch.where(finished, current, returns.gather(1, column)[:, 0])[:, None])
            current = torch.where(finished, 0.0, current)
            episodes += finished.long()
            alive &= episodes < episodes_per_row
            episode_steps = torch.where(done, 0, episode_steps)
            negative_run = torch.where(done, 0, negative_run)
            restart = done & alive
            if same_step:
                restart &= ~env_done  # a same-step env has restarted these rows already
                if base is not None and "tasks" in reset_options:  # ... possibly on a new task: keep the lifetime's
                    base.set_tasks(reset_options["tasks"], env_done)
            if bool(restart.any()):
                obs, _ = env.reset(options={**reset_options, "reset_mask": restart})
    if episodes_per_row == 1:
        returns[:, 0] = current
    bad_state = nonfinite_state(policy, state)
    if bad_state is not None:
        failed |= bad_state
    return returns, failed, env_steps, episodes.sum()
