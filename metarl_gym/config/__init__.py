"""The one config schema of every command (pydantic v2 models) and its files.

- :mod:`.base`: the strict model every section derives from, the shared value types, kwargs checked against a
  signature, and pydantic's errors as one line naming the key path (:class:`ConfigError`);
- :mod:`.sections`: the sections every command shares, ``env`` and ``distributed``;
- :mod:`.evolve`, :mod:`.baseline`, :mod:`.er_mrl`: the configs of ``metarl-gym evolve``, ``baseline`` and ``er-mrl``;
- :mod:`.files`: YAML in and out, ``key=value`` overrides, the one resume check.

Resolving a config fills in the defaults and checks every key; it is idempotent (a resolved config resolves to
itself), and the resolved config is what a run records in its config.yaml.
"""

from .base import SEED_MAX, ConfigError, draw_seed
from .baseline import resolve_baseline_config
from .er_mrl import resolve_er_mrl_config
from .evolve import resolve_evolve_config
from .files import (
    apply_overrides,
    check_resume_config,
    config_differences,
    dump_yaml,
    load_yaml,
    resume_may_change,
)

__all__ = [
    "SEED_MAX",
    "ConfigError",
    "apply_overrides",
    "check_resume_config",
    "config_differences",
    "draw_seed",
    "dump_yaml",
    "load_yaml",
    "resolve_baseline_config",
    "resolve_er_mrl_config",
    "resolve_evolve_config",
    "resume_may_change",
]
