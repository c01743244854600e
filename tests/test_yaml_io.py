"""Strict YAML reading (metarl_gym.yaml_io): aliases, anchors, merge keys, duplicate keys and deep nesting are
refused in one line naming the file and line; plain configs (every shipped one) still load."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from metarl_gym.config import apply_overrides, dump_yaml
from metarl_gym.errors import UserError
from metarl_gym.yaml_io import MAX_DEPTH, dump_yaml_text, load_yaml_file, load_yaml_text

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "examples" / "configs").glob("*.yaml"))


def _alias_bomb() -> str:
    """Nine levels of nine aliases each: 9**10 leaves once expanded (the issue's 600-byte file that hung > 60 s)."""
    lines = ["env:", "  id: MetaRL/CartPole-v1", "  kwargs:", "    a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 10):
        lines.append(f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


CASES = {
    "alias_bomb": (_alias_bomb(), 4, "anchor &a0 refused"),
    "alias": ("x: 1\ny: *x\n", 2, "alias *x refused"),
    "anchor": ("policy:\n  kwargs: &k {hidden_sizes: [4]}\n", 2, "anchor &k refused"),
    "merge_key": ("env:\n  <<: {id: MetaRL/CartPole-v1}\n", 2, "merge key << refused"),
    "duplicate_top": ("generations: 2\nseed: 1\ngenerations: 3\n", 3, "duplicate key 'generations' (first set on line 1)"),
    "duplicate_nested": ("env:\n  kwargs:\n    g: 9.8\n    g: 1.0\n", 4, "duplicate key 'g' (first set on line 3)"),
    "deep_flow_5000": ("env:\n  kwargs:\n    x: " + "[" * 5000 + "]" * 5000 + "\n", 3, "nested more than"),
    "deep_map_5000": ("a: " + "{b: " * 5000 + "1" + "}" * 5000 + "\n", 1, "nested more than"),
    "deep_block": ("".join("  " * k + f"k{k}:\n" for k in range(MAX_DEPTH + 2)) + "  " * (MAX_DEPTH + 2) + "v: 1\n",
                   MAX_DEPTH + 1, "nested more than"),
    "syntax": ("a: [1,\n", 2, "YAML syntax error"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_with_file_and_line(tmp_path, name):
    text, line, words = CASES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    start = time.perf_counter()
    with pytest.raises(UserError) as info:
        load_yaml_file(path)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert words in message and "\n" not in message


def test_plain_yaml_that_looks_alike_is_accepted(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("a: '*x'\nb: 'x & y'\nc: [1, [2, [3]]]\nd: {e: 1, E: 2}\n1: one\n'1': string one\n")
    assert load_yaml_file(path) == {"a": "*x", "b": "x & y", "c": [1, [2, [3]]], "d": {"e": 1, "E": 2}, 1: "one", "1": "string one"}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads(path):
    assert load_yaml_file(path) == yaml.safe_load(path.read_text())


def test_override_alias_refused():
    with pytest.raises(UserError, match=r"override env.kwargs=\{a: &x 1, b: \*x\}:1:5: anchor &x refused"):
        apply_overrides({}, ["env.kwargs={a: &x 1, b: *x}"])
    with pytest.raises(UserError, match="YAML syntax error.*fix the value"):
        apply_overrides({}, ["seed=["])


def test_shared_values_are_written_without_aliases(tmp_path):
    shared = [16, 16]
    config = {"policy": {"kwargs": {"hidden_sizes": shared}}, "other": {"hidden_sizes": shared}}
    assert "&" not in dump_yaml_text(config) and load_yaml_text(dump_yaml_text(config), "x") == config
    dump_yaml(config, tmp_path / "c.yaml")
    assert load_yaml_file(tmp_path / "c.yaml") == config


def test_cli_one_line_exit_2(tmp_path, capsys):
    from metarl_gym.cli import main

    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())
    assert main(["evolve", str(path), "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:4:9: anchor &a0 refused" in err
    assert not (tmp_path / "run").exists()


def test_exponent_floats_are_numbers_as_in_yaml_1_2():
    """PyYAML (YAML 1.1) reads 1e-3 and 1.0e5 as strings; a config means numbers (a float check said "got '1e-3' (str)")."""
    from metarl_gym.yaml_io import load_yaml_text

    loaded = load_yaml_text("a: 1e-3\nb: 5E6\nc: 1.0e5\nd: -2.5e-1\ne: .5e2\nf: '1e3'\ng: 1e\nh: 12", "test")
    assert loaded == {"a": 0.001, "b": 5e6, "c": 1e5, "d": -0.25, "e": 50.0, "f": "1e3", "g": "1e", "h": 12}
    from metarl_gym.config import apply_overrides, resolve_evolve_config

    config = resolve_evolve_config(apply_overrides({}, ["strategy.kwargs.mutation_std=1e-2", "generations=1e1"]))
    assert config["strategy"]["kwargs"]["mutation_std"] == 0.01 and config["generations"] == 10
