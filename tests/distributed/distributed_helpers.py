"""Configs for the distributed tests: tiny budgets, resolved like the runner resolves them."""

import copy

import torch

from metarl_gym.config import resolve_evolve_config
from metarl_gym.evolution.evaluate import build_env, build_policy


def evolve_config(env_id, *, env_kwargs=None, policy=None, episodes=1, pop=6, distributed=None, seed=3):
    """A resolved evolve config with a ``distributed`` section (added after resolution if the schema lacks it)."""
    raw = {
        "env": {"id": env_id, "kwargs": dict(env_kwargs or {})},
        "policy": policy or {"name": "mlp", "kwargs": {"hidden_sizes": [8]}},
        "strategy": {"name": "ga", "pop_size": pop},
        "episodes": episodes,
        "seed": seed,
    }
    dist = {"backend": "ray", "num_workers": 2, **(distributed or {})}
    try:
        config = resolve_evolve_config({**raw, "distributed": dist})
    except ValueError:  # a schema without the distributed section
        config = resolve_evolve_config(raw)
    config = copy.deepcopy(config)
    config["distributed"] = {**(config.get("distributed") or {}), **dist}
    return config


def random_params(config, pop, seed=0):
    """``[pop, num_params]`` N(0, 1) params for the config's policy."""
    env = build_env(config, 1)
    num_params = build_policy(config, env).num_params
    env.close()
    return torch.randn(pop, num_params, generator=torch.Generator().manual_seed(seed))
