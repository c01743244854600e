"""metarl_gym: meta-RL and neuroevolution on Gymnasium envs batched over whole populations in torch.

``import metarl_gym`` registers every ``MetaRL/*`` env id (``gym.register_envs(metarl_gym)`` works too).
"""

from . import envs  # noqa: F401  (registers the env ids)

__version__ = "0.1.0"
