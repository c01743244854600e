"""Small helpers shared by test modules (importable as ``helpers``: tests/ is on sys.path through conftest.py)."""

import importlib.util
import sys
from pathlib import Path

import torch

from metarl_gym.keys import key


def lifetime_keys(seed: int, params: torch.Tensor) -> torch.Tensor:
    """``[pop]`` int64 lifetime keys for ``params [pop, D]``: row i keyed ``key(seed, i)``, as rollout keys
    individual i of an evaluation seeded ``seed`` (with one row per individual)."""
    return key(seed, torch.arange(params.shape[0], device=params.device))


def load_example(name: str):
    """The module of ``examples/<name>.py`` (its ``main(argv)`` runs the script as the command line does, less the
    ``if __name__ == "__main__"`` lines that set the thread count)."""
    path = Path(__file__).resolve().parent.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
