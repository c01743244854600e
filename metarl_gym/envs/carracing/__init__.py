"""MetaRL/CarRacing-v0: Gymnasium's CarRacing-v3 as a torch batch (track, car, rewards and 96x96 frames).

* :mod:`.track` — the track, generated with CarRacing-v3's own numpy calls per row at reset;
* :mod:`.car` — the car and tyre model of ``car_dynamics.py``, hull and wheels one rigid body, batched;
* :mod:`.road` — the tracks of a batch as tensors, wheel-tile contacts;
* :mod:`.render` — the ``state_pixels`` frame drawn straight at 96x96;
* :mod:`.env` — :class:`CarRacing`, the TorchVectorEnv (its card states the measured differences);
* :mod:`.compare` — side-by-side runs against CarRacing-v3 (box2d extra), what the card's figures measure.

Importing this package does not import torch: the id is registered with import strings and ``CarRacing`` loads on
first access.
"""

from __future__ import annotations

import gymnasium as gym

MAX_EPISODE_STEPS = 1000
CARRACING_ID = "MetaRL/CarRacing-v0"


def register_carracing() -> None:
    """Register ``MetaRL/CarRacing-v0`` (idempotent): ``gym.make`` one numpy row, ``make_vec`` the torch batch."""
    if CARRACING_ID not in gym.registry:
        gym.register(
            CARRACING_ID,
            entry_point="metarl_gym.envs.single_envs:carracing",
            vector_entry_point="metarl_gym.envs.carracing.env:CarRacing",
            max_episode_steps=MAX_EPISODE_STEPS,
            reward_threshold=900,
        )


def __getattr__(name: str):
    if name == "CarRacing":  # loaded on first use (imports torch)
        from .env import CarRacing

        return CarRacing
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CarRacing", "CARRACING_ID", "MAX_EPISODE_STEPS", "register_carracing"]
