"""Evolution strategies behind one ask/tell interface, and the fitness-shaping functions they share.

``STRATEGIES`` maps the config names to the classes; every strategy is built as
``STRATEGIES[name](num_params=D, pop_size=P, seed=s, device=d, **kwargs)``.
"""

from . import fitness_shaping
from .base import Strategy
from .cma_es import CMAES
from .ga import GA
from .openai_es import OpenAIES

from .rollout import EarlyStop, rollout  # noqa: E402  (the function: `from metarl_gym.evolution import rollout`)

STRATEGIES: dict[str, type[Strategy]] = {"ga": GA, "openai_es": OpenAIES, "cma_es": CMAES}

__all__ = ["CMAES", "EarlyStop", "GA", "OpenAIES", "STRATEGIES", "Strategy", "fitness_shaping", "rollout"]
