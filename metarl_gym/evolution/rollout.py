"""rollout(): the one place where envs meet agents, and the one entry point for evaluating a population.

Two engines sit behind it (see :mod:`metarl_gym.evolution.engines`): ``"loop"`` steps every row together
through ``env.step`` (any vector env, lifetimes of several episodes); ``"blocked"`` plays cache-sized blocks of
rows through the env's pure ``transition`` / ``observe`` (functional torch envs, one episode per row), optionally
compiled. ``engine="auto"`` (the default) picks the blocked engine whenever it can run the evaluation.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import Tensor

from ..agents.base import Policy, check_params
from .engines.blocked import blocked_unsupported, run_blocked
from .engines.loop import run_loop

ENGINES = ("auto", "loop", "blocked")

AUTO_COMPILE_MIN_ROWS = 4096
"""``compile="auto"`` compiles the blocked engine from this many rows (``env.num_envs``) on. Compiling takes
15-25 s on CPU, once per shape and process, and then runs 4-5x faster than eager (benchmarks/RESULTS.md): at 4,096
rows x 200 steps that repays itself within about 70 generations, at 10,000 rows within about 35. Smaller batches
(tests, the quickstart, single evaluations) stay eager and start at once."""


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


def check_spaces(env, policy) -> None:
    """Raise a ValueError unless ``policy`` was built for ``env``'s observation and action spaces (same kind and
    shape; a policy sized for another env would fail deep inside its first matrix product)."""
    def describe(space) -> str:
        n = getattr(space, "n", None)
        return f"{type(space).__name__}({n})" if n is not None else f"{type(space).__name__} of shape {tuple(space.shape or ())}"

    for what, env_space, policy_space in (("observation", env.single_observation_space, getattr(policy, "observation_space", None)),
                                          ("action", env.single_action_space, getattr(policy, "action_space", None))):
        if policy_space is not None and describe(env_space) != describe(policy_space):
            raise ValueError(f"the policy was built for a {what} space {describe(policy_space)}, the env's is "
                             f"{describe(env_space)}; build the policy from this env: {type(policy).__name__}("
                             "env.single_observation_space, env.single_action_space, ...)")


@torch.no_grad()
def rollout(
    env: gym.vector.VectorEnv,
    policy: Policy,
    params: Tensor,
    *,
    num_episodes: int = 1,
    seed: int | Tensor | None = None,
    tasks: dict[str, Tensor] | None = None,
    early_stop: EarlyStop | dict | None = None,
    engine: str = "auto",
    block_size: int | None = None,
    compile: bool | str = "auto",
    validate_actions: bool = True,
    return_stats: bool = False,
):
    """Mean episode return of every individual, the whole population evaluated together.

    ``env.num_envs`` must be a multiple of the population size: with ``copies = num_envs // pop`` rows per
    individual, each row is one *lifetime* of ``num_episodes / copies`` episodes played one after another (a
    plastic policy's state carries over between them) and the individual's fitness is the mean over all its
    episodes. Each lifetime keeps one task: with ``task_ranges``, the tasks the first reset draws for a row stay
    for all its episodes (rows of one individual are separate lifetimes with separate draws); ``tasks=`` sets
    them explicitly. Rows that have finished their episodes keep stepping (the batch stays rectangular) but earn
    nothing.

    An individual whose params are non-finite, whose policy's raw outputs go non-finite at any step of its
    lifetime, whose plastic weights end non-finite or whose episode returns are non-finite gets fitness ``-inf``
    and is counted in ``num_nonfinite``.

    Engines (same fitness, bit for bit in eager mode on CPU):

    * ``"loop"``: every row steps together through ``env.step`` / partial ``env.reset``; any vector env
      (wrapped, Gymnasium numpy envs, pybullet), any number of episodes per row, early stopping.
    * ``"blocked"``: blocks of ``block_size`` rows, each played to the end while its weights stay in cache,
      through ``env.transition`` / ``env.observe``. Needs an unwrapped functional TorchVectorEnv with
      ``max_episode_steps`` and one episode per row (``num_episodes == num_envs / pop``); early stopping works.
    * ``"auto"``: blocked when those conditions hold, else loop.

    ``block_size=None``: cache-sized blocks, as many rows as 10 MB (compiled) or 128 MB (eager) of per-row weights
    and lifetime state hold (MLP 3-32-32-1: ~1,000 rows compiled, 13,000 eager; Hebbian ABCD_lr on it: ~230 /
    2,900); eager torch pays a dispatch cost per op and step, so eager blocks are larger (see
    :func:`~metarl_gym.evolution.engines.blocked.default_block_size`).

    Host syncs: none per step in either engine, except one per step in the loop engine for lifetimes of several
    episodes (restarts need the mask on the host); "any row still alive?" is read every
    :data:`~metarl_gym.evolution.engines.ALIVE_CHECK_EVERY` steps; step and episode counters stay on the
    device until the end.

    Args:
        env: a vector env returning torch tensors (see :func:`metarl_gym.envs.make`).
        policy: the batched policy.
        params: ``[pop, policy.num_params]``.
        num_episodes: episodes per individual, a multiple of ``copies``.
        seed: the evaluation's key: an int (individual j is keyed ``keys.key(seed, j)``), a ``[pop]`` int64 tensor
            of individual keys (:mod:`~metarl_gym.evolution.evaluate` keys global indices this way), or None
            (fresh entropy). Every random draw of an individual's lifetime (env starts, task draws, initial
            plastic weights, policy noise) derives from its key alone: its fitness does not depend on the other
            rows, the engine or the block size.
        tasks: ``{name: [pop]}`` task parameters per individual (TorchVectorEnv only); default: the env's own
            (drawn from ``task_ranges`` once per lifetime, if it has any).
        early_stop: an :class:`EarlyStop` (or its kwargs as a dict) or None.
        engine: ``"auto"``, ``"loop"`` or ``"blocked"`` (a ValueError says why when blocked cannot run).
        block_size: rows per block of the blocked engine; None: the default above.
        compile: compile the blocked engine's steps with ``torch.compile`` (once per shape, cached for the
            process; a one-line notice on stderr while compiling; float32 round-off differences; falls back to
            eager with a warning where compiling fails). ``"auto"`` (default): compile when the blocked engine
            runs at least :data:`AUTO_COMPILE_MIN_ROWS` rows. The loop engine runs eager (``engine="loop"``
            with ``compile=True`` is an error; ``"auto"`` falling back to the loop with ``compile=True`` warns).
        validate_actions: check actions in ``env.step`` (loop engine, where the env supports switching it
            off: ``False`` skips the env's host-syncing value checks, safe because rollout screens the policy's
            actions itself). The blocked engine never validates (its actions come from the policy, screened).
        return_stats: also return the stats dict.

    Returns:
        fitness ``[pop]`` float32, and if ``return_stats`` ``{"env_steps": int, "episodes": int,
        "num_nonfinite": int, "engine": "loop" | "blocked", "episode_returns": [pop, num_episodes] float64}``
        (env steps of rows still in their lifetime; an individual's episode returns, its copies' lifetimes one
        after another).
    """
    pop = params.shape[0] if isinstance(params, Tensor) and params.ndim == 2 else None
    check_params(params, policy.num_params)
    check_spaces(env, policy)
    n = env.num_envs
    if n % pop != 0:
        raise ValueError(f"env.num_envs ({n}) must be a multiple of the population size ({pop})")
    copies = n // pop
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1 or num_episodes % copies != 0:
        raise ValueError(f"num_episodes ({num_episodes}) must be a positive multiple of num_envs / pop ({copies})")
    if isinstance(early_stop, dict):
        early_stop = EarlyStop(**early_stop)
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")
    if block_size is not None and (isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1):
        raise ValueError(f"block_size must be None or an integer >= 1, got {block_size!r}")
    if not (isinstance(compile, bool) or compile == "auto"):
        raise ValueError(f"compile must be True, False or 'auto', got {compile!r}")
    episodes_per_row = num_episodes // copies

    reason = blocked_unsupported(env, episodes_per_row)
    if engine == "blocked" and reason is not None:
        raise ValueError(f"engine='blocked' {reason}; use engine='loop' (or 'auto', which picks it)")
    chosen = "blocked" if engine in ("auto", "blocked") and reason is None else "loop"
    if compile == "auto":
        compile = chosen == "blocked" and n >= AUTO_COMPILE_MIN_ROWS
    if chosen == "loop" and compile:
        if engine == "loop":
            raise ValueError("compile=True needs the blocked engine; use engine='auto' or 'blocked', or compile=False")
        warnings.warn(f"rollout: compile=True applies to the blocked engine, which {reason}; running the loop eager", stacklevel=2)

    if chosen == "blocked":
        returns, failed, env_steps, episodes = run_blocked(
            env, policy, params, num_episodes=num_episodes, seed=seed, tasks=tasks, early_stop=early_stop,
            block_size=block_size, compile=compile,
        )
    else:
        returns, failed, env_steps, episodes = _with_validation(env, validate_actions, lambda: run_loop(
            env, policy, params, num_episodes=num_episodes, seed=seed, tasks=tasks, early_stop=early_stop,
        ))
    episode_returns = returns.reshape(pop, num_episodes)  # row-major: copy c's episode e is column c * E + e
    # non-finite returns (physics that blew up under extreme task parameters) fail the individual whatever the
    # policy did with the observations (the learned rule repairs NaN inputs, so its actions stay finite)
    failed_individuals = failed.view(pop, copies).any(dim=1) | ~torch.isfinite(episode_returns).all(dim=1)
    fitness = (episode_returns.sum(dim=1) / num_episodes).to(torch.float32)
    fitness = torch.where(failed_individuals, -math.inf, fitness)
    if return_stats:
        stats = {"env_steps": int(env_steps), "episodes": int(episodes), "num_nonfinite": int(failed_individuals.sum()),
                 "engine": chosen, "episode_returns": episode_returns}
        return fitness, stats
    return fitness


def _with_validation(env, validate: bool, run):
    """Run ``run()`` with the env's action validation switched off if asked and the env supports it."""
    base = env.unwrapped
    if validate or not hasattr(base, "validate_actions"):
        return run()
    before = base.validate_actions
    base.validate_actions = False
    try:
        return run()
    finally:
        base.validate_actions = before
