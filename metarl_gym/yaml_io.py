"""Reading YAML configs strictly: plain data only, each key once, no aliases, bounded depth.

PyYAML's ``safe_load`` already refuses tags that build objects; it still accepts three things a config never
needs and that turn a small file against its reader:

* anchors and aliases (``&a`` / ``*a``, and ``<<`` merge keys): a 600-byte file of nested aliases expands into
  billions of nodes once something walks the tree (deepcopy, validation), so a run hangs before it starts;
* duplicate keys (``lr: 0.1`` then ``lr: 0.2`` in one mapping): the last wins, silently;
* deep nesting: 5,000 levels of ``[`` make the recursive composer raise ``RecursionError``.

It also reads ``1e-3`` as a number, as YAML 1.2 does (PyYAML's YAML 1.1 reads it as a string).

:class:`StrictLoader` refuses each with a :class:`yaml.MarkedYAMLError` whose mark is the offending line;
:func:`load_yaml_file` and :func:`load_yaml_text` turn every error into one
:class:`~metarl_gym.errors.UserError` line naming the file (or override), line and column.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from .errors import UserError

__all__ = ["MAX_DEPTH", "StrictLoader", "dump_yaml_text", "load_yaml_file", "load_yaml_text"]

MAX_DEPTH = 64
"""Most nested mappings / sequences a config may have (the deepest shipped config has 4)."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses anchors, aliases, merge keys, duplicate keys and nesting deeper than
    :data:`MAX_DEPTH`."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):  # noqa: D102  (PyYAML hook)
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise ComposerError(None, None, f"alias *{event.anchor} refused: YAML anchors and aliases are not "
                                "accepted in configs; write the value out in full", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise ComposerError(None, None, f"anchor &{event.anchor} refused: YAML anchors and aliases are not "
                                "accepted in configs; write the value out in full", event.start_mark)
        nests = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        if nests:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep; a config needs a few "
                                    "levels: flatten the file", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            if nests:
                self._depth -= 1

    def construct_mapping(self, node, deep=False):  # noqa: D102  (PyYAML hook)
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise ConstructorError(None, None, "merge key << refused: write the keys out in full",
                                           key_node.start_mark)
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader's own check names it
                    continue
                if first is not None:
                    raise ConstructorError(None, None, f"duplicate key {key!r} (first set on line "
                                           f"{first.line + 1}); keep one", key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 reads 1e-3, 5e6 and 1.0e5 as numbers; PyYAML follows YAML 1.1, where an exponent needs a dot and a sign,
# and hands back the string "1e-3", which a float check then refuses with a puzzling "got '1e-3' (str)".
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"), list("-+0123456789.")
)


def _where(err: yaml.MarkedYAMLError, name: str) -> tuple[str, str]:
    mark = err.problem_mark or err.context_mark
    if mark is None:
        return name, ""
    return f"{name}:{mark.line + 1}:{mark.column + 1}", f" (line {mark.line + 1}, column {mark.column + 1})"


def load_yaml_text(text: str, name: str, fix: str = "fix the file") -> Any:
    """Parse ``text`` with :class:`StrictLoader`.

    Args:
        text: YAML source (a file's content, or the value of a ``key=value`` override).
        name: what the error names (a path, or ``override key=...``).
        fix: what the error tells the user to do.

    Raises:
        UserError: a syntax error, an alias / anchor / merge key, a duplicate key or nesting too deep, in one line
            naming ``name``, the line and the column.
    """
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.MarkedYAMLError as err:
        where, at = _where(err, name)
        problem = " ".join(str(err.problem or err.context).split())
        if isinstance(err, (ComposerError, ConstructorError)):  # ours carry their own fix
            raise UserError(f"{where}: {problem}") from None
        raise UserError(f"{where}: YAML syntax error: {problem}; {fix}{at}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{name}: not valid YAML ({' '.join(str(err).split())})") from None
    except RecursionError:  # a construction path nested past Python's stack despite MAX_DEPTH
        raise UserError(f"{name}: nested too deeply to read; a config needs a few levels: {fix}") from None


def load_yaml_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping strictly (see :class:`StrictLoader`).

    Raises:
        UserError: missing file; a syntax error, alias, duplicate key or nesting too deep (file, line and column
            named); not a mapping.
    """
    path = Path(path)
    if path.is_dir():  # was "not found" for a path that exists
        raise UserError(f"config file {str(path)!r} is a directory; give the YAML file inside it")
    if not path.is_file():
        raise UserError(f"config file {str(path)!r} not found")
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not a text file ({err.reason} at byte {err.start}); a config is UTF-8 YAML") from None
    data = load_yaml_text(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path} must contain a YAML mapping (key: value lines), got a {type(data).__name__}")
    return data


class _PlainDumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that writes a value shared by two keys twice instead of as an anchor and an alias
    (which :class:`StrictLoader` refuses)."""

    def ignore_aliases(self, data) -> bool:  # noqa: D102  (PyYAML hook)
        return True


def dump_yaml_text(data: Any) -> str:
    """``data`` as YAML that :func:`load_yaml_text` reads back: keys in their order, no anchors or aliases."""
    return yaml.dump(data, Dumper=_PlainDumper, sort_keys=False)
