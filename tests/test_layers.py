"""The package's layers, checked on its import graph (every module parsed with ``ast``, no code run).

Edges are every in-package import, module-level and inside functions alike (a cycle hidden in a function is still
a cycle), plus the parent packages Python imports first (``from ..evolution.cma_es import CMAES`` runs
``evolution/__init__.py``). The rules (shared/DESIGN.md, "Layout"):

- no import cycle;
- agents import nothing from envs, evolution, distributed, baselines, cli or config; envs nothing from agents,
  evolution, ...; the strategies (evolution/base, ga, openai_es, cma_es, fitness_shaping) nothing from envs or agents:
  each imports its own package and the helper modules only (top-level modules such as errors.py and keys.py, which
  themselves import none of the layers);
- only rollout (with its engines), evaluate, runner, cli, baselines, the config schema (it reads the registries)
  and the package root (it registers the env ids) import envs or agents from outside them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "metarl_gym"

STRATEGY_MODULES = {"base", "ga", "openai_es", "cma_es", "fitness_shaping"}
"""evolution/<name>.py files that form the "strategies" layer (the rest of evolution is where layers meet)."""

LAYERS = {"agents", "envs", "strategies", "evolution", "distributed", "baselines"}

CROSSING = {
    "metarl_gym",  # the package root imports envs to register the env ids
    "metarl_gym.cli",
    "metarl_gym.config",  # the evolve schema reads the registries (POLICIES, STRATEGIES, env ids)
    "metarl_gym.evolution.rollout",
    "metarl_gym.evolution.engines",
    "metarl_gym.evolution.evaluate",
    "metarl_gym.evolution.runner",
    "metarl_gym.baselines",
}
"""Modules (and packages, with everything below them) that may import envs or agents from outside them."""

KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}
"""(importer, imported) edges tolerated for now, each with the reason; kept out of every check below."""


# ---------------------------------------------------------------------------------------------- the graph
def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is_package) for every .py file of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


MODULES = _modules()


def _absolute(module: str | None, importer: str, is_package: bool, level: int) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _owner(name: str) -> str | None:
    """The module that defines ``name`` (itself, or its longest prefix that is a module), or None if not in-package."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def _edges() -> dict[tuple[str, str], list[str]]:
    """(importer, imported) -> ["file:line", ...] for every in-package import, implicit parent packages included."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for importer, (path, is_package) in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        loaded = set(_ancestors(importer)) | {importer}  # already in sys.modules when the importer runs
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node.module, importer, is_package, node.level)
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
            else:
                continue
            for name in names:
                target = _owner(name)
                if target is None:
                    continue
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                for imported in (*_ancestors(target), target):
                    if imported not in loaded:
                        edges[(importer, imported)].append(where)
    return edges


ALL_EDGES = _edges()


def _excepted(edge: tuple[str, str]) -> bool:
    """Whether ``edge`` comes from a known exception (the import itself, or a parent package it loads)."""
    return any(edge[0] == a and (edge[1] == b or edge[1] in _ancestors(b)) for a, b in KNOWN_EXCEPTIONS)


EDGES = {edge: where for edge, where in ALL_EDGES.items() if not _excepted(edge)}


def unit(module: str) -> str:
    """The layer a module belongs to (agents, envs, strategies, evolution, distributed, baselines), or for a
    top-level module its own name (``config``, ``keys``, ...); ``metarl_gym`` for the package root."""
    parts = module.split(".")
    if len(parts) == 1:
        return "metarl_gym"
    if parts[1] == "evolution" and len(parts) > 2 and parts[2] in STRATEGY_MODULES:
        return "strategies"
    return parts[1]


def helpers() -> set[str]:
    """Top-level modules that reach none of the layers (errors, keys, schema, run_dir, ...)."""
    reach: dict[str, set[str]] = defaultdict(set)
    for a, b in EDGES:
        reach[a].add(b)
    out = set()
    for module in MODULES:
        if unit(module) in LAYERS | {"metarl_gym"} or module.count(".") != 1:
            continue
        seen, todo = set(), [module]
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(reach[m])
        if not any(unit(m) in LAYERS for m in seen):
            out.add(unit(module))
    return out


def _where(edge) -> str:
    return f"{edge[0]} -> {edge[1]} ({', '.join(dict.fromkeys(ALL_EDGES[edge]))})"


# ---------------------------------------------------------------------------------------------- the checks
def test_graph_is_read():
    assert {"metarl_gym.agents.mlp", "metarl_gym.envs.make", "metarl_gym.evolution.ga", "metarl_gym.cli"} <= set(MODULES)
    assert ("metarl_gym.evolution.rollout", "metarl_gym.agents.base") in EDGES
    assert ("metarl_gym", "metarl_gym.envs") in EDGES
    assert {"errors", "keys"} <= helpers() and not helpers() & (LAYERS | {"cli", "config"})


def test_no_import_cycles():
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in EDGES:
        graph[a].add(b)
    # Tarjan's strongly connected components, iteratively
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(MODULES):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    cycles.append(sorted(component))
    details = [
        "cycle through " + ", ".join(c) + ":\n    " + "\n    ".join(_where(e) for e in EDGES if e[0] in c and e[1] in c)
        for c in cycles
    ]
    assert not cycles, "import cycles (function-level imports included):\n" + "\n".join(details)


@pytest.mark.parametrize("layer", ["agents", "envs", "strategies"])
def test_layer_imports_only_itself_and_helpers(layer):
    allowed = {layer} | helpers()
    bad = [_where(e) for e in EDGES if unit(e[0]) == layer and unit(e[1]) not in allowed]
    assert not bad, f"{layer} may import only {layer} and the helper modules {sorted(helpers())}; found:\n  " + "\n  ".join(bad)


def _crossing(module: str) -> bool:
    return module in CROSSING or any(module.startswith(c + ".") for c in CROSSING - {"metarl_gym"})


def test_only_the_meeting_points_import_envs_or_agents():
    bad = [
        _where(e) for e in EDGES
        if unit(e[1]) in ("envs", "agents") and unit(e[0]) not in ("envs", "agents") and not _crossing(e[0])
    ]
    assert not bad, "only rollout / evaluate / runner / cli / baselines / config import envs or agents; found:\n  " + "\n  ".join(bad)


def test_known_exceptions_are_still_needed():
    unused = [f"{a} -> {b} ({why})" for (a, b), why in KNOWN_EXCEPTIONS.items() if (a, b) not in ALL_EDGES]
    assert not unused, "these imports are gone: remove them from KNOWN_EXCEPTIONS in tests/test_layers.py:\n  " + "\n  ".join(unused)
