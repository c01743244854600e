"""MetaRL/CarRacing-v0: Gymnasium's CarRacing-v3 as a torch batch (track, car, rewards and 96x96 frames).

* :mod:`.track` — the track, generated with CarRacing-v3's own numpy calls per row at reset;
* :mod:`.car` — the car and tyre model of ``car_dynamics.py``, hull and wheels one rigid body, batched;
* :mod:`.road` — the tracks of a batch as tensors, wheel-tile contacts;
* :mod:`.render` — the ``state_pixels`` frame drawn straight at 96x96;
* :mod:`.env` — :class:`CarRacing`, the TorchVectorEnv (its card states the measured differences);
* :mod:`.compare` — side-by-side runs against CarRacing-v3 (box2d extra), what the card's figures measure.
"""

from __future__ import annotations

from functools import partial

import gymnasium as gym

from ..base import TorchSingleEnv
from .env import CarRacing

MAX_EPISODE_STEPS = 1000
CARRACING_ID = "MetaRL/CarRacing-v0"


def register_carracing() -> None:
    """Register ``MetaRL/CarRacing-v0`` (idempotent): ``gym.make`` one numpy row, ``make_vec`` the torch batch."""
    if CARRACING_ID not in gym.registry:
        gym.register(
            CARRACING_ID,
            entry_point=partial(TorchSingleEnv, CarRacing),
            vector_entry_point=CarRacing,
            max_episode_steps=MAX_EPISODE_STEPS,
            reward_threshold=900,
        )


__all__ = ["CarRacing", "CARRACING_ID", "MAX_EPISODE_STEPS", "register_carracing"]
