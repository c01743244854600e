"""Batched policies: one tensor of parameters ``[pop, num_params]`` evaluated for a whole population.

Policies know nothing about envs or strategies (they see Gymnasium spaces and tensors only). ``POLICIES`` maps the
names used in configs (``policy.name``) to the classes; the CLI, the config schema and the tests read it::

    from metarl_gym.agents import POLICIES, MLPPolicy
    policy = POLICIES["mlp"](observation_space, action_space, hidden_sizes=(16,))
"""

from ..errors import UserError
from .base import ParamLayout, Policy, bound_actions
from .cnn import CNNPolicy
from .hebbian import HebbianPolicy
from .learned_rule import LearnedRulePolicy
from .mlp import MLPPolicy
from .pixel_hebbian import PixelHebbianPolicy
from .slimevolley_baseline import SlimeVolleyBaselinePolicy

POLICIES: dict[str, type[Policy]] = {
    "mlp": MLPPolicy,
    "hebbian": HebbianPolicy,
    "learned_rule": LearnedRulePolicy,
    "cnn": CNNPolicy,
    "pixel_hebbian": PixelHebbianPolicy,
    "slimevolley_baseline": SlimeVolleyBaselinePolicy,
}
"""Config name -> policy class (every policy of the package)."""


def policy_class(name: str) -> type[Policy]:
    """The policy class registered as ``name`` (one of ``POLICIES``).

    Raises:
        UserError: ``name`` is not registered (the registered names are listed).
    """
    if name not in POLICIES:
        raise UserError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}")
    return POLICIES[name]


__all__ = [
    "SlimeVolleyBaselinePolicy",
    "CNNPolicy",
    "HebbianPolicy",
    "LearnedRulePolicy",
    "MLPPolicy",
    "POLICIES",
    "ParamLayout",
    "PixelHebbianPolicy",
    "Policy",
    "bound_actions",
    "policy_class",
]
