"""Vector wrappers that work on torch batches: MaskVelocity, ToNumpy, RecordEpisodeStatistics and Trial.

Every wrapper here is a :class:`gymnasium.vector.VectorWrapper` over a :class:`TorchVectorEnv` (wrapped or not,
so they stack) and keeps Gymnasium 1.x autoreset semantics: NEXT_STEP by default, and for a SAME_STEP env the
final observations in ``infos["final_obs"]`` are transformed like the observations. ``env.unwrapped`` is always
the TorchVectorEnv (``env.unwrapped.num_envs``, ``env.unwrapped.sample_tasks(...)``).

Shapes: N is ``num_envs``; observations ``[N, obs_dim]`` float32, rewards ``[N]`` float32, terminations and
truncations ``[N]`` bool, all torch tensors on the env device (numpy arrays after :class:`ToNumpy`).

Gymnasium's stock vector wrappers assume numpy and fail on torch tensors, hence the torch versions here.
:class:`ToNumpy` is written out rather than bridged with ``gymnasium.wrappers.vector.ArrayConversion``: that
wrapper works on these envs but needs the optional ``array-api-compat`` package, and it returns numpy arrays that
share memory with the env's tensors (CartPole's observation tensor *is* its physical state).

Order them innermost first: ``ToNumpy(RecordEpisodeStatistics(MaskVelocity(Trial(env))))``; ``ToNumpy`` must be
outermost, since the others compute on torch tensors.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space
from torch import Tensor

from .base import TorchVectorEnv, resolve_device

__all__ = [
    "MaskVelocity",
    "MaskVelocityObservation",
    "ToNumpy",
    "RecordEpisodeStatistics",
    "Trial",
    "velocity_indices",
    "to_numpy",
]


# ---------------------------------------------------------------- helpers
def _env_device(env) -> torch.device:
    """The torch device of the TorchVectorEnv under ``env`` (CPU for an env without one)."""
    return resolve_device(getattr(env.unwrapped, "device", None))


def _autoreset_mode(env) -> AutoresetMode:
    return env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)


def _reset_mask(options: dict[str, Any] | None, num_envs: int, device: torch.device) -> Tensor:
    """``options["reset_mask"]`` as a bool tensor ``[N]`` on ``device``; all True when absent."""
    mask = (options or {}).get("reset_mask")
    if mask is None:
        return torch.ones(num_envs, dtype=torch.bool, device=device)
    mask = torch.as_tensor(mask, device=device)
    if mask.dtype != torch.bool or mask.shape != (num_envs,):
        raise ValueError(f"reset_mask must be a bool array of shape [{num_envs}], got {mask.dtype} {tuple(mask.shape)}")
    return mask


def to_numpy(value: Any) -> Any:
    """Torch tensors -> numpy arrays, recursively through dicts, lists and tuples; anything else unchanged.

    The arrays are copies: on CPU ``Tensor.numpy()`` would share memory with the env's own tensors.
    """
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_numpy(v) for v in value)
    return value


def _to_torch(value: Any, device: torch.device) -> Any:
    """Numpy arrays -> torch tensors on ``device``, recursively through dicts; anything else unchanged."""
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value, device=device)
    if isinstance(value, dict):
        return {k: _to_torch(v, device) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- MaskVelocity
def velocity_indices(env: gym.Env | VectorEnv) -> tuple[int, ...]:
    """The observation columns holding velocities, as declared by the env's class (``velocity_indices``).

    Works on a ``gym.make_vec`` batch and on a ``gym.make`` single env (whose ``unwrapped`` holds the vector class
    in ``vector_env``), wrapped or not.

    Raises:
        ValueError: the env declares no velocity columns.
    """
    base = env.unwrapped
    base = getattr(base, "vector_env", base)
    indices = tuple(int(i) for i in getattr(base, "velocity_indices", ()))
    if not indices:
        raise ValueError(
            f"{type(base).__name__} declares no velocity observation columns (its `velocity_indices` is empty), so "
            "MaskVelocity has nothing to drop; set `velocity_indices` on the env class (e.g. CartPole has (1, 3))"
        )
    return indices


def _masked_box(space: gym.Space, indices: tuple[int, ...]) -> tuple[gym.spaces.Box, list[int]]:
    """The Box ``space`` without the columns ``indices``, and the list of kept columns."""
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"MaskVelocity needs a 1-D Box observation space, got {space}")
    dim = space.shape[0]
    if max(indices) >= dim or min(indices) < 0:
        raise ValueError(f"velocity indices {indices} do not fit an observation of {dim} columns")
    keep = [i for i in range(dim) if i not in indices]
    return gym.spaces.Box(space.low[keep], space.high[keep], dtype=space.dtype), keep


class MaskVelocity(VectorWrapper):
    """Drops the velocity columns of the observation: the partially observable variants of ER-MRL.

    The columns are the env's ``velocity_indices`` (CartPole ``[1, 3]``, Pendulum and PendulumSwingup ``[2]``,
    DoublePendulum ``[2, 5]``). Observations ``[N, obs_dim]`` become ``[N, obs_dim - len(velocity_indices)]``
    (torch or numpy, whichever comes in); the spaces keep the bounds of the remaining columns. For a SAME_STEP
    env ``infos["final_obs"]`` is masked too. Apply it where the leading columns are the env's own observation
    (anywhere below or above RecordEpisodeStatistics and Trial).

    Args:
        env: a vector env over a TorchVectorEnv.

    Raises:
        ValueError: the env declares no velocity columns.
    """

    def __init__(self, env: VectorEnv):
        if not isinstance(env, VectorEnv):
            raise TypeError(f"MaskVelocity wraps a vector env, got {type(env).__name__}; use MaskVelocityObservation for a gym.make env")
        super().__init__(env)
        self.velocity_indices = velocity_indices(env)
        self.single_observation_space, self.keep = _masked_box(env.single_observation_space, self.velocity_indices)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

    def observations(self, obs):
        """``[N, obs_dim]`` -> ``[N, obs_dim - len(velocity_indices)]``."""
        return obs[..., self.keep]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self.observations(obs), info

    def step(self, actions):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        if "final_obs" in infos:
            infos = {**infos, "final_obs": self.observations(infos["final_obs"])}
        return self.observations(obs), rewards, terminations, truncations, infos


class MaskVelocityObservation(gym.ObservationWrapper):
    """MaskVelocity for one numpy env from ``gym.make`` (ER-MRL trains SB3 on single envs).

    Observation ``[obs_dim]`` -> ``[obs_dim - len(velocity_indices)]``, same column choice as :class:`MaskVelocity`.

    Args:
        env: a ``gym.make("MetaRL/...")`` env, wrapped or not.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.velocity_indices = velocity_indices(env)
        self.observation_space, self.keep = _masked_box(env.observation_space, self.velocity_indices)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation[self.keep]


# ---------------------------------------------------------------- ToNumpy
class ToNumpy(VectorWrapper):
    """Torch batch -> numpy: obs, rewards, terminations, truncations and every tensor inside infos.

    Actions may be numpy arrays or torch tensors ``[N, *action_shape]``; numpy arrays in ``reset`` options
    (``reset_mask``, ``state``, ``tasks``) are moved to the env device. Put it outermost.

    Args:
        env: a vector env over a TorchVectorEnv.
    """

    def __init__(self, env: VectorEnv):
        super().__init__(env)
        self.device = _env_device(env)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        return to_numpy(self.env.reset(seed=seed, options=_to_torch(options, self.device)))

    def step(self, actions):
        if not isinstance(actions, Tensor):
            actions = torch.as_tensor(np.asarray(actions), device=self.device)
        return to_numpy(self.env.step(actions))


# ---------------------------------------------------------------- RecordEpisodeStatistics
class RecordEpisodeStatistics(VectorWrapper):
    """Per-row episode returns, lengths and wall times, on torch batches (Gymnasium's vector layout).

    At every step where some row's episode ended, ``infos["episode"] = {"r": [N] float64, "l": [N] int64,
    "t": [N] float64}`` (return, length, seconds; 0 in the other rows) and ``infos["_episode"]`` (bool ``[N]``,
    the rows that ended), all torch tensors on the env device. ``return_queue``, ``length_queue`` and
    ``time_queue`` hold the last ``buffer_length`` finished episodes as Python numbers.

    Under NEXT_STEP autoreset the step after a done only resets the row (reward 0); it is not counted into the
    new episode, so a truncated episode has exactly ``max_episode_steps`` steps.

    Args:
        env: a vector env over a TorchVectorEnv (torch rewards and dones; put ToNumpy outside this wrapper).
        buffer_length: size of the queues.
        stats_key: the info key (``"episode"``).
    """

    def __init__(self, env: VectorEnv, buffer_length: int = 100, stats_key: str = "episode"):
        super().__init__(env)
        self.device = _env_device(env)
        self.autoreset_mode = _autoreset_mode(env)
        self.stats_key = stats_key
        n = self.num_envs
        self.episode_returns = torch.zeros(n, dtype=torch.float64, device=self.device)
        self.episode_lengths = torch.zeros(n, dtype=torch.int64, device=self.device)
        self.episode_start_times = torch.full((n,), time.perf_counter(), dtype=torch.float64, device=self.device)
        self.prev_dones = torch.zeros(n, dtype=torch.bool, device=self.device)
        self.episode_count = 0
        self.return_queue: deque[float] = deque(maxlen=buffer_length)
        self.length_queue: deque[int] = deque(maxlen=buffer_length)
        self.time_queue: deque[float] = deque(maxlen=buffer_length)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the env and the statistics of the reset rows (all, or ``options["reset_mask"]``)."""
        obs, info = self.env.reset(seed=seed, options=options)
        mask = _reset_mask(options, self.num_envs, self.device)
        self._restart(mask, time.perf_counter())
        return obs, info

    def step(self, actions):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        if not isinstance(rewards, Tensor):
            raise TypeError(
                f"RecordEpisodeStatistics expects torch rewards, got {type(rewards).__name__}; put ToNumpy outside "
                "it (ToNumpy(RecordEpisodeStatistics(env))) or use gymnasium.wrappers.vector.RecordEpisodeStatistics"
            )
        now = time.perf_counter()
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            # Rows done at the previous step were only reset in this one: their new episode starts here, at 0.
            counted = ~self.prev_dones
            self._restart(self.prev_dones, now)
            self.episode_returns = self.episode_returns + torch.where(counted, rewards, 0).to(torch.float64)
            self.episode_lengths = self.episode_lengths + counted.to(torch.int64)
        else:
            self.episode_returns = self.episode_returns + rewards.to(torch.float64)
            self.episode_lengths = self.episode_lengths + 1

        dones = terminations | truncations
        self.prev_dones = dones
        if bool(dones.any()):
            key = self.stats_key
            if key in infos or f"_{key}" in infos:
                raise ValueError(f"infos already holds {key!r} (keys {list(infos)}); wrap the env only once")
            elapsed = now - self.episode_start_times
            infos = dict(infos)
            infos[key] = {
                "r": torch.where(dones, self.episode_returns, 0.0),
                "l": torch.where(dones, self.episode_lengths, 0),
                "t": torch.where(dones, elapsed, 0.0),
            }
            infos[f"_{key}"] = dones
            self.episode_count += int(dones.sum())
            self.return_queue.extend(self.episode_returns[dones].tolist())
            self.length_queue.extend(self.episode_lengths[dones].tolist())
            self.time_queue.extend(elapsed[dones].tolist())
            if self.autoreset_mode == AutoresetMode.SAME_STEP:
                # These rows were already reset within this step.
                self._restart(dones, now)
        return obs, rewards, terminations, truncations, infos

    def _restart(self, mask: Tensor, now: float) -> None:
        """Zero the statistics of the rows in ``mask`` ``[N]`` and start their clocks at ``now``."""
        self.episode_returns = torch.where(mask, 0.0, self.episode_returns)
        self.episode_lengths = torch.where(mask, 0, self.episode_lengths)
        self.episode_start_times = torch.where(mask, now, self.episode_start_times)
        self.prev_dones = self.prev_dones & ~mask


# ---------------------------------------------------------------- Trial
class Trial(VectorWrapper):
    """Meta-RL trials: each row runs ``episodes_per_trial`` episodes on one task, then draws a new task.

    The observation ``[N, obs_dim]`` is extended to ``[N, obs_dim + act_dim + 2]`` with, for the step that
    produced it: the action (Box: its values clipped to the action bounds, ``act_dim = prod(shape)``; Discrete:
    one-hot, ``act_dim = n``), the reward and the done flag (terminated or truncated, 0/1). After ``reset`` and on
    the NEXT_STEP reset step (where the env ignores the action and returns reward 0) these columns are 0. Under
    SAME_STEP a row's first observation after a done carries the action, reward and done = 1 of the step that
    ended the previous episode (as ``infos["final_obs"]`` does).

    Tasks are drawn from the env's ``task_ranges`` (``unwrapped.sample_tasks`` + ``unwrapped.set_tasks``) only
    when a trial starts: at ``reset`` (the env draws them; ``options["tasks"]`` overrides) and when the row is
    autoreset after the last episode of its trial. ``unwrapped.resample_tasks`` is switched off so the env keeps
    the task between the episodes of a trial. An env without ``task_ranges`` keeps its tasks throughout.

    ``infos["episode_in_trial"]`` (int64 ``[N]``): index in ``[0, episodes_per_trial)`` of the episode this step
    belongs to (NEXT_STEP: the reset step belongs to the new episode). ``infos["trial_done"]`` (bool ``[N]``): the
    last episode of the row's trial ended at this step. ``reset`` starts new trials in the reset rows.

    Args:
        env: a vector env over a TorchVectorEnv with a 1-D Box observation, Box or Discrete actions, and
            NEXT_STEP or SAME_STEP autoreset (SAME_STEP: ``infos["final_obs"]`` is extended too, and a row whose
            trial ended is reset again with its new task, through ``env.reset(options={"reset_mask": ...})``).
        episodes_per_trial: k, the number of episodes per task.
    """

    def __init__(self, env: VectorEnv, episodes_per_trial: int):
        super().__init__(env)
        k = episodes_per_trial
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ValueError(f"episodes_per_trial must be a positive integer, got {k!r}")
        if not isinstance(env.unwrapped, TorchVectorEnv):
            raise TypeError(f"Trial needs a TorchVectorEnv underneath (for its tasks), got {type(env.unwrapped).__name__}")
        self.autoreset_mode = _autoreset_mode(env)
        if self.autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(
                f"Trial needs NEXT_STEP or SAME_STEP autoreset, got {self.autoreset_mode}; "
                "make the env with autoreset_mode='next_step'"
            )
        obs_space, act_space = env.single_observation_space, env.single_action_space
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
            raise ValueError(f"Trial needs a 1-D Box observation space, got {obs_space}")
        self.episodes_per_trial = int(episodes_per_trial)
        self.device = _env_device(env)

        if isinstance(act_space, gym.spaces.Discrete):
            self.action_dim = int(act_space.n)
            act_low, act_high = np.zeros(self.action_dim), np.ones(self.action_dim)
        elif isinstance(act_space, gym.spaces.Box):
            self.action_dim = int(np.prod(act_space.shape))
            act_low, act_high = act_space.low.reshape(-1), act_space.high.reshape(-1)
            self._act_low = torch.as_tensor(act_low, dtype=torch.float32, device=self.device)
            self._act_high = torch.as_tensor(act_high, dtype=torch.float32, device=self.device)
        else:
            raise ValueError(f"Trial supports Box and Discrete action spaces, got {act_space}")
        low = np.concatenate([obs_space.low, act_low, [-np.inf, 0.0]]).astype(np.float32)
        high = np.concatenate([obs_space.high, act_high, [np.inf, 1.0]]).astype(np.float32)
        self.single_observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

        self.unwrapped.resample_tasks = False  # tasks change only at trial starts, drawn here
        n = self.num_envs
        self.episode_in_trial = torch.zeros(n, dtype=torch.int64, device=self.device)
        """Index of each row's current episode within its trial, ``[N]``."""
        self.prev_dones = torch.zeros(n, dtype=torch.bool, device=self.device)
        self.extension = torch.zeros(n, self.action_dim + 2, dtype=torch.float32, device=self.device)
        """The columns appended to the last observation, ``[N, act_dim + 2]``."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the rows (all, or ``options["reset_mask"]``) and start new trials there.

        Returns:
            ``(obs [N, obs_dim + act_dim + 2], info)``; ``info["episode_in_trial"]`` is 0 in the reset rows.
        """
        # TorchVectorEnv.reset draws new tasks for the reset rows (from task_ranges, whatever resample_tasks
        # says) unless options["tasks"] is given: that is the start of the new trial.
        obs, info = self.env.reset(seed=seed, options=options)
        mask = _reset_mask(options, self.num_envs, self.device)
        self.episode_in_trial = torch.where(mask, 0, self.episode_in_trial)
        self.prev_dones = self.prev_dones & ~mask
        self.extension = torch.where(mask[:, None], 0.0, self.extension)
        info = {**info, "episode_in_trial": self.episode_in_trial.clone()}
        return self._extend(obs), info

    def step(self, actions):
        """Step every row; see the class docstring for the extra observation columns and infos."""
        k = self.episodes_per_trial
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            # Rows done at the previous step are reset in this step; new tasks where their trial ended.
            resetting = self.prev_dones
            new_trial = resetting & (self.episode_in_trial == k - 1)
            self._draw_tasks(new_trial)
            obs, rewards, terminations, truncations, infos = self.env.step(actions)
            next_episode = torch.where(new_trial, 0, self.episode_in_trial + 1)
            episode = torch.where(resetting, next_episode, self.episode_in_trial)
            dones = terminations | truncations
            trial_done = dones & (episode == k - 1)
            action_columns = torch.where(resetting[:, None], 0.0, self._action_features(actions))
            self.episode_in_trial = episode
        else:  # SAME_STEP: finished rows come back already reset.
            obs, rewards, terminations, truncations, infos = self.env.step(actions)
            episode = self.episode_in_trial
            dones = terminations | truncations
            trial_done = dones & (episode == k - 1)
            if bool(trial_done.any()):
                # The env restarted these rows on the old task; restart them once more on a new one.
                reset_options = {"reset_mask": trial_done}
                if self.unwrapped.task_ranges:
                    reset_options["tasks"] = self._task_draw()
                reset_obs, _ = self.env.reset(options=reset_options)
                obs = torch.where(trial_done[:, None], reset_obs, obs)
            action_columns = self._action_features(actions)
            self.episode_in_trial = torch.where(dones, torch.where(trial_done, 0, episode + 1), episode)

        self.prev_dones = dones
        reward_column, done_column = rewards[:, None].to(torch.float32), dones[:, None].to(torch.float32)
        self.extension = torch.cat([action_columns, reward_column, done_column], dim=1)
        infos = {**infos, "episode_in_trial": episode, "trial_done": trial_done}
        if "final_obs" in infos:
            infos["final_obs"] = self._extend(infos["final_obs"])
        return self._extend(obs), rewards, terminations, truncations, infos

    def _draw_tasks(self, mask: Tensor) -> None:
        """New tasks from ``task_ranges`` in the rows of ``mask`` ``[N]`` (no-op without task ranges)."""
        if self.unwrapped.task_ranges and bool(mask.any()):
            self.unwrapped.set_tasks(self._task_draw(), mask)

    def _task_draw(self) -> dict[str, Tensor]:
        """Tasks ``{name: [N]}`` keyed by each row's next episode: a row's trials do not depend on its neighbours."""
        env = self.unwrapped
        return env.draw_tasks(env.episode_keys())

    def _action_features(self, actions) -> Tensor:
        """Actions ``[N, *action_shape]`` (torch or numpy, already checked by the env) -> ``[N, act_dim]`` float32."""
        actions = torch.as_tensor(actions if isinstance(actions, Tensor) else np.asarray(actions), device=self.device)
        space = self.single_action_space
        if isinstance(space, gym.spaces.Discrete):
            return torch.nn.functional.one_hot(actions.long() - int(space.start), self.action_dim).to(torch.float32)
        return actions.reshape(self.num_envs, -1).to(torch.float32).clamp(self._act_low, self._act_high)

    def _extend(self, obs: Tensor) -> Tensor:
        """``[N, obs_dim]`` -> ``[N, obs_dim + act_dim + 2]`` with the current extension columns."""
        return torch.cat([obs, self.extension.to(obs.dtype)], dim=1)
