"""Shared pieces of the distillation and multitask examples: GA teachers and their logged behaviour.

The ga-openai-gym seed distils its GA-evolved BipedalWalker teacher into small students by behaviour cloning
(bipedalwalker/offline_learning) and trains a multitask net on data logged from its CartPole and BipedalWalker
teachers (multitask_learning). Both start from (observation, action) rows of teacher episodes; this file logs
them, and wraps a trained ``torch.nn`` student as a batched MLPPolicy genome so that ``rollout`` scores it on
exactly the same path as the teacher.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from metarl_gym.agents import MLPPolicy
from metarl_gym.envs import make
from metarl_gym.evolution.evaluate import build_policy


def load_teacher(run_dir: str | Path):
    """``(config, policy, params [D])`` of the solution in an evolve run directory."""
    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    env = make(config["env"]["id"], 1, **config["env"]["kwargs"])
    policy = build_policy(config, env)
    env.close()
    params = torch.load(run_dir / "best.pt", weights_only=True)["params"].float()
    return config, policy, params


@torch.no_grad()
def log_episodes(env_id: str, policy, params: torch.Tensor, episodes: int, seed: int, max_steps: int, **env_kwargs):
    """Play ``episodes`` teacher episodes side by side; return (obs [rows, obs_dim], actions [rows, ...], returns [episodes]).

    Row ``i`` of the vector env is reset with seed ``seed + i``; only each row's first episode is logged.
    """
    env = make(env_id, episodes, max_episode_steps=max_steps, **env_kwargs)
    rows = params.unsqueeze(0).repeat(episodes, 1)
    state = policy.initial_state(rows, torch.Generator().manual_seed(seed))
    obs, _ = env.reset(seed=seed)
    alive = torch.ones(episodes, dtype=torch.bool)
    returns = torch.zeros(episodes, dtype=torch.float64)
    all_obs, all_actions = [], []
    while bool(alive.any()):
        actions, state = policy.act(rows, obs, state)
        all_obs.append(obs[alive].float().clone())
        all_actions.append(actions[alive].clone())
        obs, rewards, terminated, truncated, _ = env.step(actions)
        returns += torch.where(alive, rewards.double(), 0.0)
        alive &= ~(terminated | truncated)
    env.close()
    return torch.cat(all_obs), torch.cat(all_actions), returns


def student_as_mlp_genome(obs_space, action_space, layers: list[torch.nn.Linear], first_k: int):
    """An MLPPolicy (identity hidden activations, tanh output) and its genome ``[1, D]`` equal to a torch student.

    The student reads the first ``first_k`` observation columns: the first layer's weights on the other columns
    are zero, so the batched policy computes exactly ``tanh(L_n(...L_1(obs[:, :first_k])))``.
    """
    hidden = [layer.out_features for layer in layers[:-1]]
    policy = MLPPolicy(obs_space, action_space, hidden_sizes=hidden, activation="identity", output="tanh")
    parts = {}
    for k, layer in enumerate(layers, start=1):
        w = layer.weight.detach().T.clone()  # [in, out]
        if k == 1:
            full = torch.zeros(obs_space.shape[0], w.shape[1])
            full[:first_k] = w
            w = full
        parts[f"w{k}"] = w.unsqueeze(0)
        parts[f"b{k}"] = layer.bias.detach().clone().unsqueeze(0)
    return policy, policy.layout.flatten(parts)
