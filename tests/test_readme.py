"""The README's Python code runs as written, and the public API imports as the README says.

Every ```python block of README.md is executed (loop lengths shortened so the test takes seconds); nothing is
xfailed: a block that stops working fails here.
"""

import importlib
import inspect
import pkgutil
import re
import types
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


def python_blocks() -> list[tuple[str, str]]:
    """``(title, code)`` of every ```python block: title is the section heading above it."""
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        headings = re.findall(r"^#+ (.+)$", text[: match.start()], re.M)
        blocks.append((headings[-1] if headings else "top", match.group(1)))
    return blocks


def test_readme_has_the_python_blocks():
    titles = [title for title, _ in python_blocks()]
    assert "Ten lines" in titles and "Python API" in titles


@pytest.mark.parametrize("title, code", python_blocks(), ids=[t for t, _ in python_blocks()])
def test_readme_python_block_runs(title, code):
    # shorten every `for x in range(N):` loop to 2 iterations; nothing else is changed
    short = re.sub(r"range\((\d[\d_]*)\)", lambda m: f"range({min(int(m.group(1).replace('_', '')), 2)})", code)
    namespace: dict = {}
    exec(compile(short, f"{README}:{title}", "exec"), namespace)


def test_public_imports():
    from metarl_gym.agents import POLICIES, CNNPolicy, HebbianPolicy, LearnedRulePolicy, MLPPolicy, PixelHebbianPolicy
    from metarl_gym.envs import make
    from metarl_gym.evolution import CMAES, GA, STRATEGIES, OpenAIES, rollout

    assert callable(make) and callable(rollout) and rollout.__name__ == "rollout"
    assert set(STRATEGIES.values()) == {GA, OpenAIES, CMAES}
    assert {MLPPolicy, HebbianPolicy, LearnedRulePolicy, CNNPolicy, PixelHebbianPolicy} <= set(POLICIES.values())
    # the submodule stays importable by its dotted name beside the function of the same name
    assert isinstance(importlib.import_module("metarl_gym.evolution.rollout"), types.ModuleType)


def test_envs_export_the_wrappers():
    import metarl_gym.envs as envs
    from metarl_gym.envs import pixels, reservoir, wrappers

    for module in (wrappers, reservoir, pixels):
        for name in module.__all__:
            assert getattr(envs, name) is getattr(module, name), f"metarl_gym.envs does not export {module.__name__}.{name}"
            assert name in envs.__all__


def test_policy_registry_lists_every_policy_of_the_package():
    """POLICIES (read by the config schema and so the CLI) holds every Policy class defined in metarl_gym.agents."""
    import metarl_gym.agents as agents
    from metarl_gym.agents import POLICIES
    from metarl_gym.agents.base import Policy
    from metarl_gym.config import resolve_evolve_config

    defined = set()
    for info in pkgutil.iter_modules(agents.__path__):
        module = importlib.import_module(f"metarl_gym.agents.{info.name}")
        defined |= {
            c for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, Policy) and c is not Policy and not inspect.isabstract(c) and c.__module__ == module.__name__
        }
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in defined - set(POLICIES.values()))
    assert not missing, f"register {missing} in POLICIES (metarl_gym/agents/__init__.py) under their config names"
    assert set(POLICIES.values()) <= defined
    for name in POLICIES:  # every registered name passes the schema's policy.name check
        assert resolve_evolve_config({"policy": {"name": name}})["policy"]["name"] == name


def test_readme_tables_match_the_registries():
    """One registry per kind, and the README checked against it: every registered MetaRL id has a row of the env
    table (and every row is registered); every policy and strategy config name is named; every example script and
    every shipped config is in the examples table."""
    import gymnasium as gym

    import metarl_gym  # noqa: F401
    from metarl_gym.agents import POLICIES
    from metarl_gym.evolution import STRATEGIES

    text = README.read_text()
    table_ids = set(re.findall(r"^\| `(MetaRL/[^`]+)` \|", text, re.M))
    registered = {i for i in gym.registry if i.startswith("MetaRL/")}
    assert table_ids == registered, f"README env table: missing {sorted(registered - table_ids)}, unknown {sorted(table_ids - registered)}"
    for name in [*POLICIES, *STRATEGIES]:
        assert f"(`{name}`" in text, f"README names no policy / strategy `{name}`"
    examples = Path(__file__).parent.parent / "examples"
    rows = "\n".join(line for line in text.splitlines() if line.startswith("| `"))
    for script in sorted(examples.glob("*.py")):
        assert f"`{script.name}`" in rows, f"examples/{script.name} is not in the README's examples table"
    for config in sorted((examples / "configs").rglob("*.yaml")):
        assert config.name in rows, f"examples/configs/{config.relative_to(examples / 'configs')} is not in the README's examples table"
