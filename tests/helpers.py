"""Small helpers shared by test modules (importable as ``helpers``: tests/ is on sys.path through conftest.py)."""

import torch

from metarl_gym.keys import key


def lifetime_keys(seed: int, params: torch.Tensor) -> torch.Tensor:
    """``[pop]`` int64 lifetime keys for ``params [pop, D]``: row i keyed ``key(seed, i)``, as rollout keys
    individual i of an evaluation seeded ``seed`` (with one row per individual)."""
    return key(seed, torch.arange(params.shape[0], device=params.device))
