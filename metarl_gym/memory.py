"""Memory a run would need, estimated before anything is allocated, and refused up front when it cannot fit.

``hidden_sizes: [100000000]`` or ``pop_size: 1000000000000`` used to hang a machine in swap or die in the
allocator with a traceback; :func:`check_evolve_memory` and :func:`check_evaluate_memory` turn them into one line
naming the estimate, what is available and which key to lower. The estimates are lower bounds (the largest
tensors only), so a run they refuse could not have run.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import UserError

__all__ = ["available_bytes", "check_baseline_memory", "check_evaluate_memory", "check_evolve_memory", "check_gif_memory", "format_bytes"]

FLOAT32 = 4
PARAM_COPIES = 3
"""Population-sized float32 tensors alive at once: the strategy's population, the asked genomes and the
policy's per-evaluation copy of the weights."""
ROW_TENSORS = 8
"""``[rows, obs_dim + action_dim]``-sized float32 tensors an evaluation holds (state, observations, actions,
returns and the engines' buffers), a lower bound."""
BYTES_PER_EPISODE = 60
"""Per episode of ``metarl-gym evaluate``: the return as float64 in a tensor, as a Python float in a list, and in
the JSON text."""


def format_bytes(n: float) -> str:
    """``1.5 GB`` style (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def available_bytes(device: Any = "cpu") -> int | None:
    """Memory free for new tensors on ``device``: free GPU memory for CUDA, ``MemAvailable`` (else physical
    memory) for the CPU; None where it cannot be told."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):
            return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _refuse(need: int, device: Any, what: str, detail: str, fix: str) -> None:
    have = available_bytes(device)
    if have is not None and need > have:
        raise UserError(f"{what} needs about {format_bytes(need)} ({detail}), more than the {format_bytes(have)} "
                        f"available on {device}; {fix}")


def evolve_bytes(config: dict[str, Any], num_params: int, obs_dim: int, action_dim: int, plastic: bool) -> tuple[int, str]:
    """Lower bound of the memory of one generation of an evolve config, and how it splits.

    Args:
        config: a resolved evolve config (``strategy.pop_size``, ``strategy.name`` / ``kwargs``, ``episodes``,
            ``env.morphologies``).
        num_params: genome length (``policy.num_params``).
        obs_dim, action_dim: flat sizes of one observation / action.
        plastic: whether one env row lives the whole lifetime (else one row per episode).

    Returns:
        ``(bytes, breakdown)``: ``PARAM_COPIES * pop * num_params * 4`` for the population, ``rows *
        (obs_dim + action_dim) * 4 * ROW_TENSORS`` for the env rows, plus ``3 * num_params**2 * 8`` for a full
        CMA-ES covariance (its matrix, eigenvectors and a work copy, float64).
    """
    pop = int(config["strategy"]["pop_size"])
    morphologies = len(config.get("env", {}).get("morphologies") or [None])
    rows = pop * morphologies * (1 if plastic else int(config.get("episodes", 1)))
    params = PARAM_COPIES * pop * num_params * FLOAT32
    env_rows = rows * (obs_dim + action_dim) * FLOAT32 * ROW_TENSORS
    parts = [f"population {pop:,} x {num_params:,} parameters x {PARAM_COPIES} copies: {format_bytes(params)}",
             f"{rows:,} env rows: {format_bytes(env_rows)}"]
    total = params + env_rows
    strategy = config["strategy"]
    if strategy.get("name") == "cma_es" and not strategy.get("kwargs", {}).get("diagonal", False):
        covariance = 3 * num_params * num_params * 8
        parts.append(f"full CMA-ES covariance {num_params:,}^2: {format_bytes(covariance)}")
        total += covariance
    return total, ", ".join(parts)


def check_evolve_memory(config: dict[str, Any], policy) -> None:
    """Refuse (one :class:`UserError` line) an evolve config whose generation cannot fit on its device.

    Args:
        config: a resolved evolve config.
        policy: its policy (``num_params``, ``obs_dim``, ``action_dim``, ``plastic``), built without allocating
            the population.
    """
    need, breakdown = evolve_bytes(config, int(policy.num_params), int(getattr(policy, "obs_dim", 0) or 0),
                                   int(getattr(policy, "action_dim", 0) or 0), bool(getattr(policy, "plastic", False)))
    fix = "lower strategy.pop_size or the policy's size (policy.kwargs.hidden_sizes)"
    if "covariance" in breakdown:
        fix += ", or use strategy.kwargs.diagonal: true"
    _refuse(need, config.get("device", "cpu"), "this run", breakdown, fix)


def check_evaluate_memory(episodes: int) -> None:
    """Refuse ``metarl-gym evaluate --episodes N`` when the returns of N episodes cannot fit in memory (the env
    rows are evaluated in slices of a fixed size, so the returns are what grows)."""
    _refuse(int(episodes) * BYTES_PER_EPISODE, "cpu", f"--episodes {episodes:,}",
            f"{BYTES_PER_EPISODE} bytes for each episode's return", "lower --episodes")


def check_gif_memory(frames: int, frame_bytes: int) -> None:
    """Refuse ``metarl-gym show --steps N`` when its frames cannot fit in memory (each is held as an array and as
    a Pillow image until the GIF is written)."""
    _refuse(2 * int(frames) * int(frame_bytes), "cpu", f"a GIF of {frames:,} frames",
            f"2 x {format_bytes(frame_bytes)} per frame", "lower --steps or raise --every")


def check_baseline_memory(config: dict[str, Any], algorithm: type, observation_space, action_space) -> None:
    """Refuse a ``metarl-gym baseline`` config whose env rows and SB3 buffer cannot fit in memory.

    Args:
        config: a resolved baseline config (``num_envs``, ``algorithm_kwargs``, ``device``).
        algorithm: the SB3 class (its ``n_steps`` / ``buffer_size`` defaults are read from its signature).
        observation_space, action_space: one env's spaces (after masking / reservoir encoding).

    The estimate: ``num_envs * (obs + action) * 4 * ROW_TENSORS`` for the env rows, plus SB3's buffer in float32:
    a rollout buffer of ``n_steps * num_envs * (obs + action + 6)`` (PPO, A2C) or a replay buffer of
    ``buffer_size * (2 * obs + action + 3)`` (SAC, TD3).
    """
    import inspect
    import math

    obs = int(math.prod(observation_space.shape or (1,)))
    act = int(math.prod(action_space.shape or (1,)))
    num_envs = int(config["num_envs"])
    kwargs = config.get("algorithm_kwargs") or {}
    defaults = inspect.signature(algorithm.__init__).parameters
    rows = num_envs * (obs + act) * FLOAT32 * ROW_TENSORS
    parts = [f"{num_envs:,} env rows: {format_bytes(rows)}"]
    if "buffer_size" in defaults:
        size = int(kwargs.get("buffer_size", defaults["buffer_size"].default))
        buffer = size * (2 * obs + act + 3) * FLOAT32
        parts.append(f"replay buffer of {size:,} transitions: {format_bytes(buffer)}")
        fix = "lower num_envs or algorithm_kwargs.buffer_size"
    else:
        steps = int(kwargs.get("n_steps", defaults["n_steps"].default))
        buffer = steps * num_envs * (obs + act + 6) * FLOAT32
        parts.append(f"rollout buffer of {steps:,} x {num_envs:,} steps: {format_bytes(buffer)}")
        fix = "lower num_envs or algorithm_kwargs.n_steps"
    _refuse(rows + buffer, config.get("device", "cpu"), "this baseline", ", ".join(parts), fix)
