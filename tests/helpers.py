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


def make_vec(env_id: str, n: int, **kwargs):
    """A registered id's torch batch of ``n`` rows (its vector entry point)."""
    import gymnasium as gym

    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)


def tiny_study(**overrides) -> dict:
    """A seconds-long ER-MRL study config (one velocity-masked CartPole, one 10-unit reservoir, one CMA-ES
    generation of 3, 64 PPO steps per fitness, two test seeds); ``overrides`` replace whole top-level keys."""
    config = {
        "envs": [{"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 40}, "mask_velocity": True}],
        "seed": 0,
        "device": "cpu",
        "workers": 1,
        "reservoir": {"nb_res": 1, "units": 10},
        "search": {"generations": 1, "pop_size": 3, "sigma0": 0.3},
        "fitness": {"seeds": 1, "total_timesteps": 64, "last_episodes": 10},
        "ppo": {"num_envs": 2, "algorithm_kwargs": {"n_steps": 16, "batch_size": 32, "n_epochs": 1, "policy_kwargs": {"net_arch": [8]}}},
        "test": {"seeds": 2, "total_timesteps": 64},
    }
    return {**config, **overrides}


def random_actions(env, steps: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    """A fixed sequence of batched actions ``[steps, N, ...]`` (Discrete, MultiBinary or Box); Box actions span
    ``scale`` times the bounds around their centre (``scale=1``: uniform over the space)."""
    import gymnasium as gym

    g = torch.Generator().manual_seed(seed)
    space = env.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        return torch.randint(0, int(space.n), (steps, env.num_envs), generator=g)
    if isinstance(space, gym.spaces.MultiBinary):
        return torch.randint(0, 2, (steps, env.num_envs, *space.shape), generator=g).float()
    low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
    if scale != 1.0:
        centre, half = (low + high) / 2, scale * (high - low) / 2
        low, high = centre - half, centre + half
    return low + (high - low) * torch.rand(steps, env.num_envs, *space.shape, generator=g)


def esn_update(x, u, w, w_in, b, lr):
    """The numpy reference of the echo-state network: one leaky step of one row (float64)."""
    import numpy as np

    return (1 - lr) * x + lr * np.tanh(w @ x + w_in @ u + b)


def esn_row_matrices(esn, row: int):
    """``(W, W_in, b, leak rate)`` of one row of an EchoStateNetwork, as float64 numpy arrays."""
    return (
        esn.recurrent_matrix(row).double().numpy(),
        esn.input_matrix(row).double().numpy(),
        esn.bias.double().numpy(),
        float(esn.leak_rate[row]),
    )
