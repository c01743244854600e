"""RL baselines on the same envs as the evolution runs: the SB3 VecEnv adapter, ``metarl-gym baseline`` and
the ER-MRL loop (CMA-ES over reservoir hyper-parameters around SB3 PPO).

Imports are lazy so that ``import metarl_gym.baselines`` does not load Stable-Baselines3.
"""

from importlib import import_module

_EXPORTS = {
    "SB3VecEnv": "metarl_gym.baselines.sb3",
    "run_baseline": "metarl_gym.baselines.run",
    "resolve_baseline_config": "metarl_gym.baselines.run",
    "run_er_mrl": "metarl_gym.baselines.er_mrl",
    "resolve_er_mrl_config": "metarl_gym.baselines.er_mrl",
    "run_trial": "metarl_gym.baselines.er_mrl",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'metarl_gym.baselines' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
