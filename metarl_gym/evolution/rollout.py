"""rollout(): the one place where envs meet agents. A whole population is evaluated in one batched loop."""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import torch
from gymnasium.vector import AutoresetMode
from torch import Tensor

from ..agents.base import Policy, check_params
from ..envs.base import TorchVectorEnv


@dataclass(frozen=True)
class EarlyStop:
    """End an episode early when a row keeps earning negative rewards (the Hebbian seed's rule).

    After ``after`` steps of an episode, count consecutive steps with a negative reward; when the count exceeds
    ``patience``, the episode ends for that row (seed: Bullet envs use after=200, patience=30; CarRacing
    after=0, patience=20).
    """

    patience: int = 30
    after: int = 0

    def __post_init__(self):
        if self.patience < 1 or self.after < 0:
            raise ValueError(f"early_stop needs patience >= 1 and after >= 0, got {self}")


def make_env(env_id: str, num_envs: int, *, device=None, vectorization_mode: str | None = None, **kwargs) -> gym.vector.VectorEnv:
    """A batch of ``num_envs`` envs of ``env_id`` returning torch tensors on ``device``.

    MetaRL ids (and any id whose vector entry point is a :class:`TorchVectorEnv`) are built with
    ``vectorization_mode="vector_entry_point"``. Any other Gymnasium id (``LunarLander-v3``,
    ``BipedalWalker-v3``, ...) runs in Gymnasium's ``"sync"`` (default) or ``"async"`` vector env behind
    ``gymnasium.wrappers.vector.NumpyToTorch``.
    """
    if env_id not in gym.registry:
        raise ValueError(f"unknown env id {env_id!r}; `metarl-gym envs` lists the MetaRL ids, gym.pprint_registry() all")
    spec = gym.spec(env_id)
    if vectorization_mode in (None, "vector_entry_point") and spec.vector_entry_point is not None and _is_torch_entry(spec):
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", device=device, **kwargs)
    if vectorization_mode == "vector_entry_point":
        raise ValueError(f"{env_id} has no torch vector entry point; use vectorization_mode 'sync' or 'async'")
    from gymnasium.wrappers.vector import NumpyToTorch

    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=vectorization_mode or "sync", **kwargs)
    return NumpyToTorch(env, device=device)


def _is_torch_entry(spec) -> bool:
    entry = spec.vector_entry_point
    if isinstance(entry, str):
        from gymnasium.envs.registration import load_env_creator

        entry = load_env_creator(entry)
    return isinstance(entry, type) and issubclass(entry, TorchVectorEnv)


@torch.no_grad()
def rollout(
    env: gym.vector.VectorEnv,
    policy: Policy,
    params: Tensor,
    *,
    num_episodes: int = 1,
    seed: int | None = None,
    tasks: dict[str, Tensor] | None = None,
    early_stop: EarlyStop | dict | None = None,
    return_stats: bool = False,
):
    """Mean episode return of every individual, all individuals stepped together.

    ``env.num_envs`` must be a multiple of the population size: with ``copies = num_envs // pop`` rows per
    individual, each row plays ``num_episodes / copies`` episodes one after another (plastic state carries over
    between them, as a lifetime) and the individual's fitness is the mean over all its episodes. Rows that have
    finished their episodes keep stepping (the batch stays rectangular) but earn nothing.

    Args:
        env: a vector env returning torch tensors (see :func:`make_env`).
        policy: the batched policy.
        params: ``[pop, policy.num_params]``.
        num_episodes: episodes per individual, a multiple of ``copies``.
        seed: seeds the env reset and the policy's generator (same seed, same fitness).
        tasks: ``{name: [pop]}`` task parameters per individual (TorchVectorEnv only); default: the env's own.
        early_stop: an :class:`EarlyStop` (or its kwargs as a dict) or None.
        return_stats: also return ``{"env_steps": int, "episodes": int}``.

    Returns:
        fitness ``[pop]`` float32 (``-inf`` for an individual whose policy produced non-finite actions),
        and the stats dict if ``return_stats``.
    """
    pop = params.shape[0]
    check_params(params, policy.num_params)
    n = env.num_envs
    if n % pop != 0:
        raise ValueError(f"env.num_envs ({n}) must be a multiple of the population size ({pop})")
    copies = n // pop
    if num_episodes < 1 or num_episodes % copies != 0:
        raise ValueError(f"num_episodes ({num_episodes}) must be a positive multiple of num_envs / pop ({copies})")
    if isinstance(early_stop, dict):
        early_stop = EarlyStop(**early_stop)
    episodes_per_row = num_episodes // copies
    device = params.device
    row_params = params.repeat_interleave(copies, dim=0) if copies > 1 else params

    reset_options = {}
    if tasks is not None:
        reset_options["tasks"] = {k: torch.as_tensor(v, device=device).repeat_interleave(copies) for k, v in tasks.items()}
    # Rows are restarted by partial resets right away (no Gymnasium next-step dummy step), so a plastic
    # policy never learns from a step that did not happen.
    same_step = env.metadata.get("autoreset_mode") == AutoresetMode.SAME_STEP

    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    obs, _ = env.reset(seed=seed, options=reset_options or None)
    state = policy.initial_state(row_params, generator)

    returns = torch.zeros(n, dtype=torch.float64, device=device)
    episodes = torch.zeros(n, dtype=torch.int64, device=device)
    alive = torch.ones(n, dtype=torch.bool, device=device)
    failed = torch.zeros(n, dtype=torch.bool, device=device)
    negative_run = torch.zeros(n, dtype=torch.int64, device=device)
    episode_steps = torch.zeros(n, dtype=torch.int64, device=device)
    env_steps = 0
    while bool(alive.any()):
        actions, state = policy.act(row_params, obs, state)
        if actions.is_floating_point():
            finite = torch.isfinite(actions.reshape(n, -1)).all(dim=1)
            if not bool(finite.all()):
                failed |= ~finite & alive
                actions = torch.nan_to_num(actions, nan=0.0, posinf=0.0, neginf=0.0)
        obs, rewards, terminated, truncated, _ = env.step(actions)
        rewards = rewards.to(device)
        env_steps += int(alive.sum())
        returns += torch.where(alive, rewards.to(torch.float64), 0.0)
        state = policy.learn(row_params, state, rewards)
        env_done = (terminated | truncated).to(device)
        done = env_done
        episode_steps += 1
        if early_stop is not None:
            negative = (rewards < 0) & (episode_steps > early_stop.after)
            negative_run = torch.where(negative, negative_run + 1, 0)
            done = done | (negative_run > early_stop.patience)
        if bool(done.any()):
            episodes += (done & alive).long()
            alive &= episodes < episodes_per_row
            episode_steps = torch.where(done, 0, episode_steps)
            negative_run = torch.where(done, 0, negative_run)
            restart = done & alive
            if same_step:
                restart &= ~env_done  # a same-step env has restarted these rows already
            if bool(restart.any()):
                obs, _ = env.reset(options={**reset_options, "reset_mask": restart})
    fitness = (returns.view(pop, copies).sum(dim=1) / num_episodes).to(torch.float32)
    fitness = torch.where(failed.view(pop, copies).any(dim=1), -math.inf, fitness)
    if return_stats:
        return fitness, {"env_steps": env_steps, "episodes": int(episodes.sum())}
    return fitness

