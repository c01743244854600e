"""slimevolleygym 0.1.0 as the reference of MetaRL/SlimeVolley-v0's tests, importable without its gym and cv2.

slimevolleygym depends on the old ``gym`` (never installed next to Gymnasium here) and imports ``cv2`` without
declaring it; its game (``Game``, ``BaselinePolicy``, ``Particle``, ``Agent``) needs neither. Install the wheel
without its dependencies (``pip install --no-deps slimevolleygym==0.1.0``); :func:`load` imports it with tiny
stand-ins for the missing modules (only while importing: they are removed from ``sys.modules`` afterwards) and
returns None when slimevolleygym is not installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np


def _stub_modules() -> dict[str, types.ModuleType]:
    """Stand-ins for what slimevolley.py touches at import time: gym.Env / Wrapper / RewardWrapper as base classes,
    gym.spaces, gym.utils.seeding, gym.envs.registration.register, and cv2."""
    gym = types.ModuleType("gym")

    class Env:
        pass

    class Wrapper(Env):
        def __init__(self, env):
            self.env = env

    gym.Env, gym.Wrapper, gym.RewardWrapper = Env, Wrapper, Wrapper
    spaces = types.ModuleType("gym.spaces")
    spaces.Box = spaces.Discrete = spaces.MultiBinary = lambda *args, **kwargs: None
    utils = types.ModuleType("gym.utils")
    seeding = types.ModuleType("gym.utils.seeding")
    seeding.np_random = lambda seed=None: (np.random.RandomState(seed), seed)
    envs = types.ModuleType("gym.envs")
    registration = types.ModuleType("gym.envs.registration")
    registration.register = lambda *args, **kwargs: None
    gym.spaces, gym.utils, gym.envs = spaces, utils, envs
    utils.seeding, envs.registration = seeding, registration
    return {"gym": gym, "gym.spaces": spaces, "gym.utils": utils, "gym.utils.seeding": seeding, "gym.envs": envs,
            "gym.envs.registration": registration, "cv2": types.ModuleType("cv2")}


def load():
    """The ``slimevolleygym.slimevolley`` module, or None if slimevolleygym is not installed."""
    if importlib.util.find_spec("slimevolleygym") is None:
        return None
    if "slimevolleygym.slimevolley" in sys.modules:
        return sys.modules["slimevolleygym.slimevolley"]
    stubs = {name: module for name, module in _stub_modules().items() if importlib.util.find_spec(name.split(".")[0]) is None}
    printoptions = np.get_printoptions()
    sys.modules.update(stubs)
    try:
        return importlib.import_module("slimevolleygym.slimevolley")
    finally:
        np.set_printoptions(**printoptions)  # slimevolley.py sets numpy's print options at import
        for name in stubs:
            sys.modules.pop(name, None)


class Serves:
    """A stand-in for ``Game.np_random``: ``uniform`` returns the given serve velocities in order (vx, vy, vx, ...),
    then zeros (the serve slimevolleygym draws after the last point of a game is never played)."""

    def __init__(self, values):
        self.values = [float(v) for v in values]
        self.count = 0

    def uniform(self, low, high):
        value = self.values[self.count] if self.count < len(self.values) else 0.0
        self.count += 1
        return value
