"""Any TorchVectorEnv as a Stable-Baselines3 ``VecEnv`` (Raffin et al. 2021, "Stable-Baselines3: Reliable
Reinforcement Learning Implementations", JMLR 22(268)).

SB3's VecEnv is not a Gymnasium VectorEnv: ``step`` returns ``(obs, rewards, dones, infos)`` as numpy, with
``dones = terminated | truncated``, a list of one info dict per row, and a *same-step* reset — a finished row
already holds the first observation of its next episode, the last one of the finished episode being in
``infos[i]["terminal_observation"]``, and ``infos[i]["TimeLimit.truncated"]`` telling a time-out from a
termination. :class:`SB3VecEnv` builds that on top of our next-step envs with one partial reset,
``env.reset(options={"reset_mask": dones})``, which also passes through every wrapper in between (a reservoir
encoder restarts those rows' reservoirs there), so the result equals SB3's own ``DummyVecEnv`` over the same
single envs exactly.

Example:
    >>> venv = SB3VecEnv(gym.make_vec("MetaRL/CartPole-v1", num_envs=8, vectorization_mode="vector_entry_point"))
    >>> model = PPO("MlpPolicy", VecMonitor(venv), seed=0).learn(10_000)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.wrappers.vector import NumpyToTorch
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn
from torch import Tensor

from ..envs.base import TorchVectorEnv, vector_env_device


def _numpy(x) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _wrapper_chain(env) -> list:
    """``[env, env.env, env.env.env, ...]`` down to the unwrapped env."""
    chain = [env]
    while hasattr(chain[-1], "env") and chain[-1] is not getattr(chain[-1], "env"):
        chain.append(chain[-1].env)
    return chain


class SB3VecEnv(VecEnv):
    """A torch vector env (a :class:`TorchVectorEnv`, wrapped or not, or Gymnasium's sync / async vector env
    behind ``NumpyToTorch``, as :func:`metarl_gym.envs.make` builds for non-MetaRL ids) seen by SB3 as a ``VecEnv``.

    Observations ``[N, *obs_shape]``, rewards ``[N]`` float32 and dones ``[N]`` bool come out as numpy; actions
    ``[N, *action_shape]`` go in as numpy (moved to the env's device). A finished row is reset in the same step
    (SB3's convention): its final observation is ``infos[i]["terminal_observation"]``, and
    ``infos[i]["TimeLimit.truncated"]`` is True iff the episode was truncated and not terminated. Gymnasium
    vector infos (``{key: [N], "_key": mask}``) are split into the per-row dicts.

    The batch is one object: ``get_attr``/``env_method`` evaluate once and return the value for every
    requested index; ``seed(s)`` seeds the whole batch with ``s`` at the next ``reset``.

    Args:
        env: a torch vector env with NEXT_STEP, SAME_STEP or DISABLED autoreset (NEXT_STEP and DISABLED
            envs are reset through partial resets; SAME_STEP envs through their ``infos["final_obs"]``).
    """

    def __init__(self, env: VectorEnv):
        if not isinstance(env, VectorEnv):
            raise TypeError(
                f"SB3VecEnv wraps a torch vector env, got {type(env).__name__}; make one with "
                "gym.make_vec(id, num_envs=N, vectorization_mode='vector_entry_point') (for single Gymnasium envs "
                "use SB3's DummyVecEnv)"
            )
        converter = next((w for w in _wrapper_chain(env) if isinstance(w, NumpyToTorch)), None)
        if not isinstance(env.unwrapped, TorchVectorEnv) and converter is None:
            raise TypeError(
                f"SB3VecEnv needs a TorchVectorEnv underneath or Gymnasium's NumpyToTorch over a numpy vector env, got "
                f"{type(env.unwrapped).__name__}; build it with metarl_gym.envs.make(id, num_envs), or use SB3's "
                "DummyVecEnv/SubprocVecEnv over single envs"
            )
        self.env = env
        self.device = vector_env_device(env) or torch.device("cpu")
        self.autoreset_mode = env.metadata.get("autoreset_mode", env.unwrapped.autoreset_mode)
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None

    # ---------------------------------------------------------------- stepping
    def reset(self) -> VecEnvObs:
        """Reset every row (with the seed from :meth:`seed` and options from ``set_options``, once)."""
        seed = self._seeds[0]
        options = self._options[0] or None
        obs, infos = self.env.reset(seed=seed, options=options)
        self.reset_infos = self._split_infos(infos)
        self._reset_seeds()
        self._reset_options()
        return self._obs(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async(actions); call step(actions) instead")
        actions = self._actions
        if not isinstance(actions, Tensor):
            actions = torch.as_tensor(np.asarray(actions), device=self.device)
        self._actions = None
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        terminated, truncated = _numpy(terminations).astype(bool), _numpy(truncations).astype(bool)
        dones = terminated | truncated
        obs_np = self._obs(obs)
        row_infos = self._split_infos(infos)
        for i in range(self.num_envs):
            row_infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        if dones.any():
            if self.autoreset_mode == AutoresetMode.SAME_STEP:
                final = self._obs(infos["final_obs"])
                for i in np.flatnonzero(dones):
                    row_infos[i]["terminal_observation"] = final[i]
                    row_infos[i].pop("final_obs", None)
            else:
                for i in np.flatnonzero(dones):
                    row_infos[i]["terminal_observation"] = obs_np[i].copy()
                mask = torch.as_tensor(dones, device=self.device)
                obs, reset_infos = self.env.reset(options={"reset_mask": mask})
                obs_np = self._obs(obs)
                for i, info in enumerate(self._split_infos(reset_infos)):
                    if dones[i]:
                        self.reset_infos[i] = info
        return obs_np, _numpy(rewards).astype(np.float32), dones, row_infos

    def close(self) -> None:
        self.env.close()

    def _obs(self, obs) -> np.ndarray:
        return _numpy(obs).astype(self.observation_space.dtype, copy=False)

    def _split_infos(self, infos: dict[str, Any]) -> list[dict[str, Any]]:
        """Gymnasium vector infos ``{key: [N], "_key": [N] bool}`` -> one dict per row."""
        rows: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for key, value in infos.items():
            if key.startswith("_") or key == "final_obs":
                continue
            mask = infos.get(f"_{key}")
            if mask is None:
                continue
            mask = _numpy(mask).astype(bool)
            for i in np.flatnonzero(mask):
                rows[i][key] = _row(value, i)
        return rows

    # ---------------------------------------------------------------- attributes and methods
    def _find(self, name: str):
        for env in _wrapper_chain(self.env):
            if hasattr(env, name):
                return env
        raise AttributeError(f"no wrapper of {self.env} and not the env itself has an attribute {name!r}")

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """``attr_name`` of the outermost wrapper (or the env) that has it, once per requested index."""
        value = getattr(self._find(attr_name), attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set ``attr_name`` on the outermost wrapper that has it (else the outermost); all rows at once."""
        indices = list(self._get_indices(indices))
        if sorted(indices) != list(range(self.num_envs)):
            raise ValueError(
                f"set_attr({attr_name!r}) on rows {indices}: the rows of a torch batch share one env object, so "
                "attributes can only be set for all rows (indices=None)"
            )
        try:
            target = self._find(attr_name)
        except AttributeError:
            target = self.env
        setattr(target, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Call ``method_name`` once on the batch; its result is returned for every requested index."""
        result = getattr(self._find(method_name), method_name)(*method_args, **method_kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """Whether any wrapper around the torch env is a ``wrapper_class``."""
        wrapped = any(isinstance(env, wrapper_class) for env in _wrapper_chain(self.env))
        return [wrapped for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """One RGB frame ``[H, W, 3]`` per row (render_mode="rgb_array" only)."""
        if self.render_mode != "rgb_array":
            return [None for _ in range(self.num_envs)]
        if not isinstance(self.env.unwrapped, TorchVectorEnv):  # Gymnasium's sync / async env: one frame per row
            return list(self.env.unwrapped.render())
        return [self.env.unwrapped.render(i) for i in range(self.num_envs)]


def _row(value, i: int):
    """Row ``i`` of a batched info value (tensor, array or nested dict)."""
    if isinstance(value, dict):
        return {k: _row(v, i) for k, v in value.items()}
    if isinstance(value, Tensor):
        item = value[i].detach().cpu()
        return item.item() if item.ndim == 0 else item.numpy()
    if isinstance(value, np.ndarray):
        item = value[i]
        return item.item() if np.ndim(item) == 0 and value.dtype != object else item
    return value[i] if isinstance(value, (list, tuple)) else value
