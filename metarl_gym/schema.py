"""A small declarative config schema: sections of typed fields, checked with errors that name the key path.

Why not pydantic or OmegaConf: the checks needed here are few (unknown keys at every level, strict types —
YAML's ``'false'`` is not a bool and ``true`` is not a size — ranges, finiteness, and kwargs checked against the
signature of the class they are passed to), and every message must name the key path and the fix in one line
(``config key 'policy.kwargs.hidden_sizes': must be a list of int ..., got 16``). A hundred lines do that
without a new dependency, and the kwargs check, which no library does, needs the same machinery anyway.

A schema is a :class:`Section` of fields::

    SCHEMA = Section({
        "generations": Int(20, min=1),
        "device": Str("cpu", check=check_device),
        "rollout": Section({"episodes": Int(1, min=1), "early_stop": Section({...}, default=None)}),
        "policy": Section({"name": Str("mlp", choices=[...]),
                           "kwargs": Kwargs(lambda section: POLICY_CLASS[section["name"]], exclude=(...))}),
    })
    resolved = SCHEMA.validate(user_dict)          # defaults filled in; ConfigError on the first problem

API as agreed in CONTRACTS §6. :class:`ConfigError` is a :class:`~metarl_gym.errors.UserError` (a ValueError).
"""

from __future__ import annotations

import copy
import difflib
import inspect
import math
import secrets
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import UserError

MISSING: Any = object()
"""Default of a required field."""


class ConfigError(UserError):
    """A config value is missing or invalid; the message names the key path and what is allowed."""

    def __init__(self, key_path: str, message: str):
        super().__init__(f"config key '{key_path}': {message}")
        self.key_path = key_path


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


class Field:
    """One config value.

    Args:
        default: the value when the key is absent (``MISSING``: required).
        nullable: ``None`` (YAML ``null``) is allowed.
        check: ``check(value, key_path) -> value`` run after the type checks (may raise ConfigError).
        doc: one line shown in error messages where useful.
    """

    kind = "a value"

    def __init__(self, default: Any = MISSING, *, nullable: bool = False, check: Callable | None = None, doc: str = ""):
        self.default = default
        self.nullable = nullable or default is None
        self.check = check
        self.doc = doc

    def validate(self, value: Any, path: str = "", root: dict | None = None) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(path, f"must be {self.kind}, got null")
        value = self._validate(value, path)
        if self.check is not None:
            value = self.check(value, path)
        return value

    def _validate(self, value: Any, path: str) -> Any:
        return copy.deepcopy(value)

    def resolve_default(self, path: str) -> Any:
        if self.default is MISSING:
            raise ConfigError(path, f"is required ({self.kind}){': ' + self.doc if self.doc else ''}")
        return copy.deepcopy(self.default)


class AnyValue(Field):
    """Any YAML value (numbers still must be finite)."""

    def _validate(self, value, path):
        check_finite(value, path)
        return copy.deepcopy(value)


class Int(Field):
    """An integer (not a bool, not a float) in ``[min, max]``."""

    def __init__(self, default: Any = MISSING, *, min: int | None = None, max: int | None = None, **kw):
        super().__init__(default, **kw)
        self.min, self.max = min, max
        lo = "" if min is None else f" >= {min}"
        hi = "" if max is None else f" <= {max}"
        self.kind = f"an integer{lo}{' and' if lo and hi else ''}{hi}"

    def _validate(self, value, path):
        if isinstance(value, float) and value.is_integer() and math.isfinite(value) and abs(value) < 2**53:
            value = int(value)  # YAML 1e5 is a float
        if not _is_int(value):
            raise ConfigError(path, f"must be {self.kind}, got {_describe(value)}")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ConfigError(path, f"must be {self.kind}, got {value}")
        return int(value)


class Float(Field):
    """A finite number in a range (``min_exclusive`` / ``max_exclusive`` for open ends)."""

    def __init__(self, default: Any = MISSING, *, min: float | None = None, max: float | None = None,
                 min_exclusive: bool = False, **kw):
        super().__init__(default, **kw)
        self.min, self.max, self.min_exclusive = min, max, min_exclusive
        parts = []
        if min is not None:
            parts.append(f"{'>' if min_exclusive else '>='} {min}")
        if max is not None:
            parts.append(f"<= {max}")
        self.kind = "a finite number" + (" " + " and ".join(parts) if parts else "")

    def _validate(self, value, path):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"must be {self.kind}, got {_describe(value)}")
        value = float(value)
        bad = not math.isfinite(value)
        if self.min is not None:
            bad |= value <= self.min if self.min_exclusive else value < self.min
        if self.max is not None:
            bad |= value > self.max
        if bad:
            raise ConfigError(path, f"must be {self.kind}, got {value}")
        return value


class Bool(Field):
    """``true`` or ``false`` (the strings ``'false'`` / ``'no'`` are refused)."""

    kind = "true or false"

    def _validate(self, value, path):
        if not isinstance(value, bool):
            raise ConfigError(path, f"must be true or false, got {_describe(value)}")
        return value


class BoolOrAuto(Field):
    """``true``, ``false`` or ``auto`` (let the code decide; e.g. ``rollout.compile``)."""

    kind = "true, false or auto"

    def _validate(self, value, path):
        if not (isinstance(value, bool) or value == "auto"):
            raise ConfigError(path, f"must be true, false or auto, got {_describe(value)}")
        return value


class Str(Field):
    """A string, optionally one of ``choices``."""

    def __init__(self, default: Any = MISSING, *, choices: Sequence[str] | None = None, **kw):
        super().__init__(default, **kw)
        self.choices = list(choices) if choices is not None else None
        self.kind = f"one of {self.choices}" if self.choices else "a string"

    def _validate(self, value, path):
        if not isinstance(value, str):
            raise ConfigError(path, f"must be {self.kind}, got {_describe(value)}")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(path, f"{value!r} is not allowed; allowed values: {self.choices}{_suggest(value, self.choices)}")
        return value


class List(Field):
    """A list of ``item`` fields (a YAML sequence; a lone scalar is refused)."""

    def __init__(self, item: Field, default: Any = MISSING, *, min_len: int = 0, **kw):
        super().__init__(default, **kw)
        self.item, self.min_len = item, min_len
        self.kind = f"a list of {item.kind}" + (f" (at least {min_len})" if min_len else "")

    def _validate(self, value, path):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"must be {self.kind}, e.g. [{_example(self.item)}], got {_describe(value)}")
        if len(value) < self.min_len:
            raise ConfigError(path, f"must be {self.kind}, got {value!r}")
        return [self.item.validate(v, _join(path, i)) for i, v in enumerate(value)]


class Removed(Field):
    """A key that no longer exists: any value is an error carrying ``message`` (how to say it now)."""

    def __init__(self, message: str):
        super().__init__(None)
        self.message = message

    def validate(self, value, path, root=None):
        raise ConfigError(path, self.message)

    def resolve_default(self, path):
        return _ABSENT


_ABSENT = object()


class Section(Field):
    """A mapping with a fixed set of keys (unknown keys refused, listing the accepted ones).

    Args:
        fields: key -> :class:`Field` (a :class:`Kwargs` field is checked after the others, with the section's
            resolved values, so it can depend on e.g. ``name``).
        default: ``None`` makes the whole section optional (null); else the fields' defaults apply.
        check: ``check(section_dict, key_path) -> section_dict`` run after the fields.
    """

    def __init__(self, fields: dict[str, Field], *, default: Any = "fields", check: Callable | None = None, **kw):
        super().__init__(default, check=check, **kw)
        self.fields = fields
        self.kind = f"a mapping with keys {self.accepted}"

    @property
    def accepted(self) -> list[str]:
        return [k for k, f in self.fields.items() if not isinstance(f, Removed)]

    def resolve_default(self, path):
        if self.default == "fields":
            return self.validate({}, path)
        return super().resolve_default(path)

    def _validate(self, value, path):
        if not isinstance(value, Mapping):
            raise ConfigError(path or "<root>", f"must be {self.kind}, got {_describe(value)}")
        for key in value:
            if key not in self.fields:
                raise ConfigError(_join(path, key), f"unknown key; accepted keys{' of ' + path if path else ''}: "
                                  f"{self.accepted}{_suggest(str(key), self.accepted)}")
        out: dict[str, Any] = {}
        later = []
        for key, field in self.fields.items():
            if isinstance(field, Kwargs):
                later.append((key, field))
                continue
            sub = _join(path, key)
            resolved = field.validate(value[key], sub) if key in value else field.resolve_default(sub)
            if resolved is not _ABSENT:
                out[key] = resolved
        for key, field in later:
            sub = _join(path, key)
            raw = value.get(key, field.default if field.default is not MISSING else {})
            out[key] = field.validate_with(raw, sub, out)
        return out


class Kwargs(Field):
    """Keyword arguments of a class or function, checked against its signature.

    Unknown names are refused, listing the accepted ones (following ``**kwargs`` up a class's MRO); values
    are checked against the parameter annotations where those are plain (int, float, bool, str, sequences of
    them, Optional / Union / Literal); numbers must be finite at any depth.

    Args:
        target: ``target(section) -> callable or None`` given the section's other resolved values (None: only
            the mapping and finiteness are checked).
        exclude: parameter names the builder passes itself (not the user's to set).
    """

    kind = "a mapping of keyword arguments"

    def __init__(self, target: Callable[[dict], Any], *, exclude: Sequence[str] = (), default: Any = None, **kw):
        super().__init__({} if default is None else default, **kw)
        self.nullable = True
        self.target, self.exclude = target, set(exclude) | {"self"}

    def validate_with(self, value, path, section):
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"must be a mapping of keyword arguments (name: value), got {_describe(value)}")
        value = copy.deepcopy(dict(value))
        check_finite(value, path)
        target = self.target(section)
        if target is None:
            return value
        params, open_ended = signature_parameters(target)
        name = getattr(target, "__name__", str(target))
        accepted = [p for p in params if p not in self.exclude]
        for key, item in value.items():
            if key in self.exclude:
                raise ConfigError(_join(path, key), f"is set by metarl-gym itself, not through {path}; accepted: {accepted}")
            if key not in params:
                if open_ended:
                    continue
                raise ConfigError(_join(path, key), f"is not an argument of {name}; accepted: {accepted}"
                                  f"{_suggest(str(key), accepted)}")
            check_annotation(item, params[key], _join(path, key), f"{name} argument {key}")
        if self.check is not None:
            value = self.check(value, path)
        return value


def _suggest(word: str, choices: Sequence[str]) -> str:
    near = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _example(field: Field) -> str:
    return {"Int": "16, 16", "Float": "0.1, 0.2", "Str": "'a', 'b'", "Bool": "true, false"}.get(type(field).__name__, "...")


def check_finite(value: Any, path: str) -> None:
    """Refuse NaN / inf anywhere inside ``value`` (dicts and lists followed)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(path, f"must be a finite number, got {value}")
    if isinstance(value, Mapping):
        for k, v in value.items():
            check_finite(v, _join(path, k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_finite(v, _join(path, i))


def signature_parameters(target: Any) -> tuple[dict[str, Any], bool]:
    """``({name: annotation or inspect.Parameter.empty}, open_ended)`` of ``target``'s keyword arguments.

    For a class, ``__init__`` is read and, while it takes ``**kwargs``, the parents' ``__init__`` too (a
    strategy passes ``**kwargs`` on to :class:`~metarl_gym.evolution.base.Strategy`, which refuses the rest, as
    every class of this package does). ``open_ended`` is True only for a function taking ``**kwargs``.
    """
    functions = []
    if inspect.isclass(target):
        for klass in target.__mro__:
            init = vars(klass).get("__init__")
            if init is None or klass is object:
                continue
            functions.append(init)
            if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(init).parameters.values()):
                break
    else:
        functions.append(target)
    params: dict[str, Any] = {}
    open_ended = False
    for fn in functions:
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # an annotation that does not evaluate here: check names only
            hints = {}
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in params and p.name != "self":
                params[p.name] = hints.get(p.name, inspect.Parameter.empty)
    if not inspect.isclass(target):
        open_ended = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(target).parameters.values())
    return params, open_ended


_UNKNOWN = object()


def _matches(value: Any, hint: Any) -> Any:
    """True / False when ``hint`` is understood, ``_UNKNOWN`` otherwise."""
    if hint is inspect.Parameter.empty or hint is Any:
        return _UNKNOWN
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return _is_int(value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is typing.Literal:
        return value in args
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        results = [_matches(value, a) for a in args]
        if any(r is True for r in results):
            return True
        return _UNKNOWN if any(r is _UNKNOWN for r in results) else False
    if origin in (list, tuple, Sequence, typing.Sequence) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        item = args[0] if args else inspect.Parameter.empty
        results = [_matches(v, item) for v in value]
        return False if any(r is False for r in results) else True
    if origin in (dict, Mapping) or hint in (dict,):
        return isinstance(value, Mapping)
    return _UNKNOWN


def _hint_name(hint: Any) -> str:
    text = str(hint) if typing.get_origin(hint) or not isinstance(hint, type) else hint.__name__
    return text.replace("typing.", "").replace("collections.abc.", "")


def check_annotation(value: Any, hint: Any, path: str, what: str) -> None:
    """Raise :class:`ConfigError` when ``value`` plainly does not fit the annotation ``hint``."""
    if _matches(value, hint) is False:
        expected = _hint_name(hint)
        fix = " (a list, e.g. [16])" if "Sequence" in expected or "list" in expected or "tuple" in expected else ""
        raise ConfigError(path, f"must be {expected}{fix} ({what}), got {_describe(value)}")


def check_device(value: str, path: str) -> str:
    """A torch device name that this torch build can use and compute on: cpu, cuda or mps (``cuda`` refused on
    a CPU-only build, ``meta`` and other device types always)."""
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(path, f"{value!r} is not a torch device ({err}); use cpu, cuda or cuda:0") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(path, f"{value!r}: a run computes on cpu, cuda or mps; a {device.type!r} device cannot run "
                          "envs and policies (the 'meta' device holds no data); use cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ConfigError(path, f"{value!r} is not available ({why}, torch {torch.__version__}); use device: cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(path, f"{value!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(path, f"{value!r} is not available here; use device: cpu")
    return value


SEED_MAX = 2**63 - 1
"""Largest seed (torch generators take 64-bit seeds; strategies need non-negative ones)."""


def Seed(default: Any = 0) -> Int:
    """A run seed: an integer in ``[0, 2**63 - 1]`` or null (drawn by :func:`draw_seed` and recorded)."""
    return Int(default, min=0, max=SEED_MAX, nullable=True)


def draw_seed() -> int:
    """The run seed of a config whose ``seed`` is null: fresh entropy, recorded in the run's config (every
    command draws it here)."""
    return secrets.randbits(31)


__all__ = [
    "AnyValue", "Bool", "ConfigError", "Field", "Float", "Int", "Kwargs", "List", "MISSING", "Removed", "SEED_MAX",
    "Section", "Seed", "Str", "check_annotation", "check_device", "check_finite", "draw_seed", "signature_parameters",
]
