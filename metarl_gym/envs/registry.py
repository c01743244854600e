"""The ``MetaRL/*`` ids and their entry points, written as import strings.

Registering an id imports nothing of its env: ``gym.register`` stores ``"module:name"`` strings, and Gymnasium
imports the module when the env is made (``gym.make``, ``gym.make_vec``). So ``import metarl_gym`` registers every
id without importing torch or pybullet (issue 19: it took 1.2 s, nearly all of it torch).

* ``gym.make(id)`` calls the id's function in :mod:`.single_envs` (one numpy env, :class:`~.base.TorchSingleEnv`);
* ``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")`` builds the
  :class:`~.base.TorchVectorEnv` subclass named by ``vector_entry_point``.
"""

from __future__ import annotations

from typing import NamedTuple

import gymnasium as gym


class TorchEnv(NamedTuple):
    """One torch-batched id of :data:`TORCH_ENVS`: where its classes live, and its episode length.

    Attributes:
        vector_entry_point: ``"module:Class"`` of the :class:`~.base.TorchVectorEnv` subclass (``gym.make_vec``).
        max_episode_steps: the registered truncation length.
        entry_point: ``"module:function"`` that builds one numpy env (``gym.make``).
    """

    vector_entry_point: str
    max_episode_steps: int
    entry_point: str

    def load(self) -> type:
        """The TorchVectorEnv subclass (imports its module, and so torch)."""
        from gymnasium.envs.registration import load_env_creator

        return load_env_creator(self.vector_entry_point)


TORCH_ENVS: dict[str, TorchEnv] = {
    "MetaRL/Pendulum-v0": TorchEnv("metarl_gym.envs.pendulum:Pendulum", 2000, "metarl_gym.envs.single_envs:pendulum"),
    "MetaRL/DoublePendulum-v0": TorchEnv("metarl_gym.envs.double_pendulum:DoublePendulum", 2000,
                                         "metarl_gym.envs.single_envs:double_pendulum"),
    "MetaRL/CartPole-v1": TorchEnv("metarl_gym.envs.cartpole:CartPole", 500, "metarl_gym.envs.single_envs:cartpole"),
    "MetaRL/PendulumSwingup-v1": TorchEnv("metarl_gym.envs.pendulum_swingup:PendulumSwingup", 200,
                                          "metarl_gym.envs.single_envs:pendulum_swingup"),
    "MetaRL/SlimeVolley-v0": TorchEnv("metarl_gym.envs.slimevolley:SlimeVolley", 3000, "metarl_gym.envs.single_envs:slimevolley"),
}
"""The torch-batched classic-control and game envs: id -> :class:`TorchEnv` (``TORCH_ENVS[id].load()`` is the
vector class). The pybullet ids (:data:`.bullet.BULLET_ENVS`) and ``MetaRL/CarRacing-v0`` (:mod:`.carracing`) are
registered beside them by :func:`register_envs`."""


def register_envs() -> None:
    """Register every ``MetaRL/*`` id with Gymnasium (idempotent); imports neither torch nor pybullet."""
    for env_id, entry in TORCH_ENVS.items():
        if env_id not in gym.registry:
            gym.register(
                env_id,
                entry_point=entry.entry_point,
                vector_entry_point=entry.vector_entry_point,
                max_episode_steps=entry.max_episode_steps,
            )
    from .bullet import register_bullet_envs
    from .carracing import register_carracing

    register_bullet_envs()
    register_carracing()


__all__ = ["TORCH_ENVS", "TorchEnv", "register_envs"]
