"""The building blocks of every command's config: a strict pydantic model, the shared value types, kwargs checked
against a signature, and the translation of pydantic's errors into one line naming the key path.

Every config model derives from :class:`ConfigModel`: unknown keys are refused (listing the accepted ones, with
the nearest spelling), types are strict (YAML's ``'false'`` is not a bool, ``true`` is not an integer), numbers
must be finite. A validator signals a bad value by raising :class:`Invalid` with the key relative to the model it
checks; :func:`validate` turns the first error into a :class:`ConfigError`::

    config key 'policy.kwargs.hidden_sizes': must be a list of int (a list, e.g. [16]) (MLPPolicy argument ...), got 16

Why pydantic: it gives the strict types, ``extra="forbid"``, ``allow_inf_nan=False``, nested defaults and the key
path of each error for free. What it does not do is check a ``kwargs`` mapping against the constructor it is
passed to without calling it: :func:`check_kwargs` does that with one pydantic ``TypeAdapter`` per annotated
parameter (``validate_call`` would run the constructor).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import secrets
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from ..errors import UserError

SEED_MAX = 2**63 - 1
"""Largest seed (torch generators take 64-bit seeds; strategies need non-negative ones)."""


class ConfigError(UserError):
    """A config value is missing or invalid; the message names the key path and what is allowed."""

    def __init__(self, key_path: str, message: str):
        super().__init__(f"config key '{key_path}': {message}")
        self.key_path = key_path


class Invalid(ValueError):
    """Raised by a validator: ``message`` about the value at ``key``, relative to the model or field being checked
    (``""``: the model or field itself)."""

    def __init__(self, message: str, key: str = ""):
        super().__init__(message)
        self.message, self.key = message, key


def join(*parts: Any) -> str:
    """``join("policy", "kwargs", "x") == "policy.kwargs.x"`` (empty parts skipped)."""
    return ".".join(str(p) for p in parts if p != "")


def describe(value: Any) -> str:
    """``16 (int)``: a value and its type, for messages."""
    return f"{value!r} ({type(value).__name__})"


def suggest(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` when ``word`` is close to one of ``choices``."""
    near = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


# ---------------------------------------------------------------------------------------------- the model
class ConfigModel(BaseModel):
    """A config section: strict types, finite numbers, unknown keys refused.

    ``REMOVED`` maps keys that no longer exist to how to say it now (any value is then an error).
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, validate_default=True)

    REMOVED: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        accepted = list(cls.model_fields)
        if isinstance(data, BaseModel):
            return data
        if not isinstance(data, Mapping):
            raise Invalid(f"must be a mapping with keys {accepted}, got {describe(data)}")
        for key in data:
            if key in cls.REMOVED:
                raise Invalid(cls.REMOVED[key], str(key))
            if key not in cls.model_fields:
                raise Invalid(f"unknown key; accepted keys: {accepted}{suggest(str(key), accepted)}", str(key))
        return data


def validate(model: type[ConfigModel], data: Any, prefix: str = "") -> dict[str, Any]:
    """``data`` checked against ``model``, defaults filled in, as plain dicts and lists.

    Raises:
        ConfigError: the first problem, naming its key path (under ``prefix``).
    """
    try:
        return model.model_validate(data).model_dump()
    except ValidationError as err:
        raise to_config_error(err, prefix) from None


def to_config_error(err: ValidationError, prefix: str = "") -> ConfigError:
    """The first error of a pydantic ``ValidationError`` as one :class:`ConfigError` line."""
    first = err.errors(include_url=False)[0]
    path = join(prefix, *first["loc"])
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, Invalid):
        return ConfigError(join(path, cause.key) or "<root>", cause.message)
    if isinstance(cause, ConfigError):  # raised by a check deeper down, with its own full key path
        return cause
    return ConfigError(path or "<root>", _message(first))


def _message(error: dict[str, Any]) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    bounds = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"), "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
    if kind in bounds:
        sign, key = bounds[kind]
        return f"must be {sign} {ctx[key]}, got {value!r}"
    if kind == "missing":
        return "is required"
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return f"must be an integer, got {describe(value)}"
    if kind == "bool_type":
        return f"must be true or false, got {describe(value)}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number, got {describe(value)}"
    if kind == "finite_number":
        return f"must be a finite number, got {value}"
    if kind == "string_type":
        return f"must be a string, got {describe(value)}"
    if kind == "literal_error":
        allowed = [part.strip("'") for part in ctx["expected"].replace(" or ", ", ").split(", ")]
        return f"{value!r} is not allowed; allowed values: {allowed}{suggest(str(value), allowed)}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, e.g. [16, 16], got {describe(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping, got {describe(value)}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s), got {value!r}"
    return error["msg"]


# ---------------------------------------------------------------------------------------------- value types
def _whole_number(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # YAML's 1.0e5 is a float
    return value


Integer = Annotated[int, BeforeValidator(_whole_number), Field(ge=-(2**63), le=2**63 - 1)]
"""An integer (not a bool) that fits int64 (what torch and numpy take); a float with no fractional part (``1.0e5``)
is accepted as one."""

Count = Annotated[Integer, Field(ge=1)]
"""An integer >= 1."""

Seed = Annotated[Integer, Field(ge=0, le=SEED_MAX)] | None
"""A run seed in ``[0, 2**63 - 1]``, or null: drawn by :func:`draw_seed` and recorded in the run's config."""

Threads = Annotated[Integer, Field(ge=1, le=1024)] | None
"""torch CPU threads (``torch.set_num_threads``), or null: torch's default."""

PositiveFloat = Annotated[float, Field(gt=0)]
"""A finite number > 0."""


def _bool_or_auto(value: Any) -> Any:
    if not (isinstance(value, bool) or value == "auto"):
        raise Invalid(f"must be true, false or auto, got {describe(value)}")
    return value


BoolOrAuto = Annotated[Any, AfterValidator(_bool_or_auto)]
"""``true``, ``false`` or ``auto`` (let the code decide; e.g. ``rollout.compile``)."""


def check_device(value: str) -> str:
    """A torch device name that this torch build can use and compute on: cpu, cuda or mps (``cuda`` refused on
    a CPU-only build, ``meta`` and other device types always)."""
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, TypeError) as err:
        raise Invalid(f"{value!r} is not a torch device ({err}); use cpu, cuda or cuda:0") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise Invalid(f"{value!r}: a run computes on cpu, cuda or mps; a {device.type!r} device cannot run "
                      "envs and policies (the 'meta' device holds no data); use cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise Invalid(f"{value!r} is not available ({why}, torch {torch.__version__}); use device: cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise Invalid(f"{value!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise Invalid(f"{value!r} is not available here; use device: cpu")
    return value


Device = Annotated[str, AfterValidator(check_device)]
"""A torch device this machine can compute on."""


def _sb3_device(value: str) -> str:
    from stable_baselines3.common.utils import get_device

    return str(get_device(value if value == "auto" else check_device(value)))


SB3Device = Annotated[str, AfterValidator(_sb3_device)]
"""``auto`` (CUDA when available) or a torch device: resolved to the device SB3 will use."""


def draw_seed() -> int:
    """The run seed of a config whose ``seed`` is null: fresh entropy, recorded in the run's config (every
    command draws it here)."""
    return secrets.randbits(31)


def check_finite(value: Any, key: str = "") -> None:
    """Refuse NaN / inf anywhere inside ``value`` (dicts and lists followed): :class:`Invalid` at its key."""
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"must be a finite number, got {value}", key)
    if isinstance(value, Mapping):
        for k, v in value.items():
            check_finite(v, join(key, k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_finite(v, join(key, i))


# ---------------------------------------------------------------------------------------------- kwargs
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
    for fn in functions:
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # an annotation that does not evaluate here: check names only
            hints = {}
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in params and p.name != "self":
                params[p.name] = hints.get(p.name, inspect.Parameter.empty)
    open_ended = not inspect.isclass(target) and any(p.kind is p.VAR_KEYWORD for p in inspect.signature(target).parameters.values())
    return params, open_ended


_ANNOTATION_CONFIG = ConfigDict(strict=True, allow_inf_nan=False, arbitrary_types_allowed=True)


@functools.cache
def _adapter(hint: Any) -> TypeAdapter | None:
    """A strict TypeAdapter of a parameter annotation, or None where pydantic cannot build one (names checked only)."""
    if hint is inspect.Parameter.empty or hint is Any:
        return None
    try:
        return TypeAdapter(hint, config=_ANNOTATION_CONFIG)
    except Exception:
        return None


def _yaml_to_python(value: Any) -> Any:
    """What a YAML value may stand for: a list for a tuple, ``1.0e3`` for an int (inside mappings too)."""
    if isinstance(value, list):
        return tuple(_yaml_to_python(v) for v in value)
    if isinstance(value, dict):
        return {k: _yaml_to_python(v) for k, v in value.items()}
    return _whole_number(value)


def _fits(value: Any, hint: Any) -> bool:
    try:
        adapter = _adapter(hint)
    except TypeError:  # an unhashable annotation
        return True
    if adapter is None:
        return True
    for candidate in (value, _yaml_to_python(value)):
        try:
            adapter.validate_python(candidate)
            return True
        except ValidationError:
            pass
        except Exception:  # a validator that cannot judge a YAML value: leave it to the constructor
            return True
    return False


def _hint_name(hint: Any) -> str:
    text = str(hint) if typing.get_origin(hint) or not isinstance(hint, type) else hint.__name__
    return text.replace("typing.", "").replace("collections.abc.", "")


def check_kwargs(kwargs: Any, target: Callable | None, *, exclude: Sequence[str] = (), key: str = "kwargs") -> dict[str, Any]:
    """A ``kwargs`` mapping checked against the signature of ``target`` (a class or function), without calling it.

    Unknown names are refused listing the accepted ones (following ``**kwargs`` up a class's MRO); values are
    checked against the parameter annotations with pydantic in strict mode (a YAML list stands for a tuple);
    numbers must be finite at any depth.

    Args:
        kwargs: the value from the config (None: no arguments).
        target: the class or function they go to; None checks the mapping and finiteness only.
        exclude: parameter names the builder passes itself (not the user's to set).
        key: the key of ``kwargs`` in the model being validated (for the messages).

    Returns:
        A plain dict copy.

    Raises:
        Invalid: at ``key.<name>`` for the first bad argument.
    """
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise Invalid(f"must be a mapping of keyword arguments (name: value), got {describe(kwargs)}", key)
    kwargs = dict(kwargs)
    check_finite(kwargs, key)
    if target is None:
        return kwargs
    params, open_ended = signature_parameters(target)
    name = getattr(target, "__name__", str(target))
    excluded = set(exclude) | {"self"}
    accepted = [p for p in params if p not in excluded]
    for arg, value in kwargs.items():
        if arg in excluded:
            raise Invalid(f"is set by metarl-gym itself, not through {key}; accepted: {accepted}", join(key, arg))
        if arg not in params:
            if open_ended:
                continue
            raise Invalid(f"is not an argument of {name}; accepted: {accepted}{suggest(str(arg), accepted)}", join(key, arg))
        hint = params[arg]
        if not _fits(value, hint):
            expected = _hint_name(hint)
            fix = " (a list, e.g. [16])" if any(w in expected for w in ("Sequence", "list", "tuple")) else ""
            raise Invalid(f"must be {expected}{fix} ({name} argument {arg}), got {describe(value)}", join(key, arg))
    return kwargs


__all__ = [
    "SEED_MAX",
    "BoolOrAuto",
    "ConfigError",
    "ConfigModel",
    "Count",
    "Device",
    "Integer",
    "Invalid",
    "PositiveFloat",
    "SB3Device",
    "Seed",
    "check_device",
    "check_finite",
    "check_kwargs",
    "describe",
    "draw_seed",
    "join",
    "signature_parameters",
    "suggest",
    "to_config_error",
    "validate",
]
