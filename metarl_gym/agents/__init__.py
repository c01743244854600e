"""Batched policies and encoders. They know nothing about strategies.

``POLICIES`` maps the names used in configs to classes, imported on first use.
"""

from importlib import import_module

from .base import ParamLayout, Policy, bound_actions

POLICIES = {
    "mlp": "metarl_gym.agents.mlp:MLPPolicy",
    "hebbian": "metarl_gym.agents.hebbian:HebbianPolicy",
    "learned_rule": "metarl_gym.agents.learned_rule:LearnedRulePolicy",
}


def policy_class(name: str) -> type[Policy]:
    """The policy class registered as ``name`` (one of ``POLICIES``)."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}")
    module, cls = POLICIES[name].split(":")
    return getattr(import_module(module), cls)


__all__ = ["POLICIES", "ParamLayout", "Policy", "bound_actions", "policy_class"]
