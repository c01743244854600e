"""The README is true: its Python code and its evolution commands run as written, its tables match the registries,
it states the test suite's time and extras, and the public API imports as it says.

Every ```python block of README.md is executed (loop lengths shortened so the test takes seconds); nothing is
xfailed: a block that stops working fails here.
"""

import importlib
import inspect
import pkgutil
import re
import shlex
import tomllib
import types
from pathlib import Path

import pytest

from metarl_gym.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIGS = ROOT / "examples" / "configs"


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


def test_readme_env_table_is_one_table_under_its_header():
    lines = README.read_text().splitlines()
    rows = [i for i, line in enumerate(lines) if line.startswith("| `MetaRL/")]
    assert rows
    for i in rows:
        top = i
        while top > 0 and lines[top - 1].startswith("|"):
            top -= 1
        assert lines[top].startswith("| id |"), f"README line {i + 1} ({lines[i][:40]}...) is in a table without the header"


def readme_commands() -> list[str]:
    """Every ``metarl-gym ...`` line of the README's bash blocks (continuation lines joined)."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", README.read_text(), re.M | re.S):
        commands += [line for line in block.replace("\\\n", " ").splitlines() if line.startswith("metarl-gym ")]
    return commands


TINY_NEW_RUN = {  # appended to a command that starts a run: they win over the README's values
    "evolve": ["generations=2", "strategy.pop_size=16", "env.kwargs.max_episode_steps=50", "rollout.compile=false"],
    "er-mrl": ["search.generations=1", "search.pop_size=3", "fitness.total_timesteps=64", "fitness.seeds=1",
               "fitness.random_episodes=1", "ppo.num_envs=1", "ppo.algorithm_kwargs.n_epochs=1", "test.seeds=1",
               "test.total_timesteps=64"],
}


def test_readme_commands_run_as_written(tmp_path, monkeypatch, capsys):
    """Every README command, in order, as a new user types it (issue 19: its ``plot runs/ga runs/es`` named a
    directory no command created), with tiny budgets appended to each new run; resumes run as written (the ER-MRL
    one extends the study to 5 generations). Only the commands for a Ray cluster (``distributed.address``) are
    left out: there is none here."""
    monkeypatch.chdir(tmp_path)
    commands = readme_commands()
    assert {c.split()[1] for c in commands} >= {"evolve", "evaluate", "plot", "er-mrl"}
    for command in commands:
        argv = shlex.split(command, comments=True)[1:]
        if any(a.startswith("distributed.address=") for a in argv):
            continue
        argv = [str(CONFIGS / a.removeprefix("examples/configs/")) if a.startswith("examples/configs/") else a for a in argv]
        if "--resume" not in argv:
            argv += TINY_NEW_RUN.get(argv[0], [])
        if argv[0] != "plot":
            argv += ["--no-progress"]
        assert main(argv) == 0, f"{command}: {capsys.readouterr().err}"
    assert (tmp_path / "compare.png").stat().st_size > 0 and (tmp_path / "runs" / "ga" / "best.gif").stat().st_size > 0
    assert (tmp_path / "runs" / "er_mrl" / "test_summary.json").is_file() and (tmp_path / "runs" / "ant" / "best.pt").is_file()


def test_readme_states_the_test_suite_time_and_its_extras():
    """Issue 19: "the test suite's ~9 minutes and heavy extras are not mentioned"."""
    text = " ".join(README.read_text().split())
    assert 'pip install -e ".[test]"' in text
    assert re.search(r"installs the test extras — Gymnasium's Box2D and MuJoCo envs, Ray and TensorBoard", text)
    assert re.search(r"took \d+(\.\d+)?[–-]\d+(\.\d+)? min", text), "README gives no time for the test suite"


def test_bench_extra_cannot_pull_a_gymnax_that_downgrades_gymnasium():
    """Issue 19: ``[bench]`` silently downgraded gymnasium (gymnax 0.x); its gymnax requirement must exclude 0.x."""
    from packaging.requirements import Requirement

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    gymnax = [Requirement(r) for r in extras["bench"] if Requirement(r).name == "gymnax"]
    assert len(gymnax) == 1
    assert not gymnax[0].specifier.contains("0.0.9", prereleases=True) and gymnax[0].specifier.contains("1.0.1")
