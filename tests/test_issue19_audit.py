"""Issue 19 audit: an independent pass over the issue's "Why" cases after the pydantic schema, plus new fuzz cases.

Most cases already have their regression test elsewhere (tests/test_cli_fuzz.py, tests/test_run_dir_safety.py,
tests/evolution/test_tell_nonfinite.py, ...). This file holds the ones that had none and the ones the audit found
still wrong, each of which fails on the code before the audit's fix:

- an output path the system refuses (a directory, a read-only file system) was a traceback for ``plot --out``,
  ``show --out`` and ``evaluate --gif``: now one line naming the path and the errno (exit 2);
- ``plot --out NAME`` without an extension wrote ``NAME.png`` and said "wrote NAME"; an unknown image format was
  told to "use --x with a column every run has";
- ``baseline key=value`` (no config) read the override as a config file name ("config file 'k=v' not found");
- misleading one-liners: an output folder that is a file ("[Errno 17] File exists"), ``evaluate FILE`` ("does not
  exist"), a config path that is a directory ("not found"), a run directory that cannot be created ("... then
  resume", with nothing to resume), an override with an empty key (``strategy..pop_size=8``: "unknown key");
- a run in which no individual ever scored a finite fitness (the learned rule with ``env.kwargs.g=1e30``) printed
  "best fitness -inf (generation -1)", and ``evaluate`` then said best.pt "is written after the first generation";
- ``metarl-gym show HalfCheetah-v5`` on a headless machine died with ``mujoco.FatalError`` (no OpenGL context);
- the README's env table lost its header for its last three rows (a blank line split it); the README's evolution
  commands (``plot runs/ga runs/es`` included) had no test that they run.
"""

from __future__ import annotations

import csv
import errno
import importlib.util
import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import metarl_gym
from metarl_gym.cli import _offscreen_mujoco, _os_error_line, main

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "examples" / "configs"
README = ROOT / "README.md"
TINY = ["--no-progress", "generations=1", "strategy.pop_size=4", "strategy.kwargs.num_survivors=2", "strategy.kwargs.elitism=1"]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``metarl-gym argv`` in this process: (exit code, stdout, stderr)."""
    try:
        rc = main(argv)
    except SystemExit as stop:  # argparse
        rc = stop.code
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> str:
    """A finished one-generation GA run."""
    path = tmp_path_factory.mktemp("audit") / "run"
    assert main(["evolve", "--run-dir", str(path), *TINY]) == 0
    return str(path)


# ------------------------------------------------------------------------------ one line, exit 2
ONE_LINE_CASES = {
    # name: (argv, words the one line must hold, words it must not hold)
    "plot_out_is_a_directory": (["plot", "{run}", "--out", "{tmp}/dir.png"], "dir.png: Is a directory (EISDIR)", None),
    "show_out_is_a_directory": (["show", "MetaRL/CartPole-v1", "--out", "{tmp}/dir.gif", "--steps", "3", "--no-progress"],
                                "dir.gif: Is a directory (EISDIR)", None),
    "evaluate_gif_is_a_directory": (["evaluate", "{run}", "--episodes", "1", "--gif", "{tmp}/dir.gif", "--no-progress"],
                                    "dir.gif: Is a directory (EISDIR)", None),
    "plot_out_without_extension": (["plot", "{run}", "--out", "{tmp}/figure"], "e.g. --out {tmp}/figure.png", None),
    "plot_unknown_image_format": (["plot", "{run}", "--out", "{tmp}/figure.xyz"], "Format 'xyz' is not supported", "--x"),
    "baseline_override_without_config": (["baseline", "total_timesteps=64", "--no-progress"], "baseline needs a YAML config", None),
    "plot_out_below_a_file": (["plot", "{run}", "--out", "{tmp}/afile/x.png"], "afile is a file, not a folder", "Errno"),
    "show_out_below_a_file": (["show", "MetaRL/CartPole-v1", "--out", "{tmp}/afile/x.gif", "--steps", "3", "--no-progress"],
                              "afile is a file, not a folder", "Errno"),
    "evaluate_a_file": (["evaluate", "{tmp}/afile", "--no-progress"], "afile is a file, not a run directory", "does not exist"),
    "evolve_config_is_a_directory": (["evolve", "{tmp}/cfg.yaml", "--run-dir", "{tmp}/run", "--no-progress"],
                                     "cfg.yaml' is a directory", "not found"),
    "evolve_run_dir_below_a_file": (["evolve", "--run-dir", "{tmp}/afile/run", *TINY], "nothing of this run was written", "resume"),
    "override_with_an_empty_key": (["evolve", "--run-dir", "{tmp}/run", *TINY, "strategy..pop_size=8"],
                                   "override 'strategy..pop_size=8' has an empty key", "unknown key"),
}
CREATED = ["afile", "cfg.yaml", "dir.gif", "dir.png"]  # what each case finds in its tmp_path, and must leave as it was


@pytest.mark.parametrize("name", sorted(ONE_LINE_CASES))
def test_one_line_exit_2(tmp_path, capsys, run_dir, name):
    argv, words, absent = ONE_LINE_CASES[name]
    for name in ("dir.png", "dir.gif", "cfg.yaml"):
        (tmp_path / name).mkdir()
    (tmp_path / "afile").write_text("not a folder\n")
    argv = [a.format(run=run_dir, tmp=tmp_path) for a in argv]
    rc, _, err = run_cli(argv, capsys)
    assert rc == 2 and err.count("\n") == 1 and "error:" in err, err
    assert words.format(tmp=tmp_path) in err, err
    assert absent is None or absent not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == CREATED  # nothing written (no figure.png, no run)
    assert (tmp_path / "afile").read_text() == "not a folder\n"


def test_os_error_line_names_the_path_and_the_errno():
    line = _os_error_line(OSError(errno.EROFS, os.strerror(errno.EROFS), "/mnt/ro/x.png"))
    assert line.startswith("cannot write or read /mnt/ro/x.png: Read-only file system (EROFS);"), line
    assert "\n" not in _os_error_line(OSError("no errno\nat all"))


# ------------------------------------------------------------------------------ a run that never scored finite
def test_a_run_that_never_scored_finite_says_so(tmp_path, capsys):
    """The learned rule under g = 1e30 (issue 19: "metrics all NaN, num_nonfinite 0, rc 0"): every individual is
    counted non-finite, no best.pt is written, and both the summary and ``evaluate`` say why."""
    run = tmp_path / "run"
    rc, out, err = run_cli(["evolve", str(CONFIGS / "learned_rule_double_pendulum.yaml"), "--run-dir", str(run),
                            "--no-progress", "generations=2", "episodes=1", "strategy.pop_size=4",
                            "strategy.kwargs.num_survivors=2", "policy.kwargs.hidden_sizes=[4]",
                            "env.kwargs.max_episode_steps=10", "env.kwargs.g=1.0e+30"], capsys)
    assert rc == 0, err
    assert "no individual scored a finite fitness in 2 generation(s)" in out and "generation -1" not in out, out
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["num_nonfinite"] for r in rows] == ["4", "4"]
    assert all(float(r["best_ever"]) == -math.inf for r in rows)
    assert not (run / "best.pt").exists()
    rc, _, err = run_cli(["evaluate", str(run), "--no-progress"], capsys)
    assert rc == 2 and err.count("\n") == 1, err
    assert "no individual of its 2 generation(s) scored a finite fitness" in err and "written after" not in err, err


# ------------------------------------------------------------------------------ MuJoCo without a display
def test_offscreen_mujoco_picks_egl_only_where_nothing_is_chosen(monkeypatch):
    for name in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    _offscreen_mujoco("CartPole-v1")
    assert "MUJOCO_GL" not in os.environ  # not a MuJoCo id
    _offscreen_mujoco("HalfCheetah-v5")
    assert os.environ["MUJOCO_GL"] == "egl"
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    _offscreen_mujoco("HalfCheetah-v5")
    assert os.environ["MUJOCO_GL"] == "osmesa"  # the user's choice wins
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.setenv("DISPLAY", ":0")
    _offscreen_mujoco("HalfCheetah-v5")
    assert "MUJOCO_GL" not in os.environ  # a display: MuJoCo's own default


@pytest.mark.skipif(importlib.util.find_spec("mujoco") is None, reason="needs the mujoco extra")
def test_show_a_mujoco_id_without_a_display(tmp_path):
    """Was ``mujoco.FatalError: an OpenGL platform library has not been loaded`` (rc 1, a 40-line traceback)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY", "PYOPENGL_PLATFORM")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(metarl_gym.__file__).parent.parent), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "metarl_gym.cli", "show", "HalfCheetah-v5", "--out", "x.gif", "--steps", "3",
                           "--no-progress"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert (tmp_path / "x.gif").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gif"]  # no MUJOCO_LOG.TXT either


# ------------------------------------------------------------------------------ README
def test_readme_env_table_is_one_table_under_its_header():
    lines = README.read_text().splitlines()
    rows = [i for i, line in enumerate(lines) if line.startswith("| `MetaRL/")]
    assert rows
    for i in rows:
        top = i
        while top > 0 and lines[top - 1].startswith("|"):
            top -= 1
        assert lines[top].startswith("| id |"), f"README line {i + 1} ({lines[i][:40]}...) is in a table without the header"


def _readme_block(heading: str) -> list[str]:
    text = README.read_text()
    block = re.search(rf"^{re.escape(heading)}\n+```bash\n(.*?)```", text, re.M | re.S)
    assert block, f"README has no bash block under {heading!r}"
    return [line for line in block.group(1).splitlines() if line.startswith("metarl-gym ")]


def test_readme_evolution_commands_run_as_written(tmp_path, monkeypatch, capsys):
    """The README's "Evolution runs" block, as a new user types it (issue 19: its ``plot runs/ga runs/es`` named a
    directory no command created), with tiny overrides appended to each new run (they win over the README's)."""
    monkeypatch.chdir(tmp_path)
    commands = _readme_block("## Evolution runs")
    assert any(c.startswith("metarl-gym plot ") for c in commands)
    tiny = ["generations=2", "strategy.pop_size=16", "env.kwargs.max_episode_steps=50", "rollout.compile=false", "--no-progress"]
    for command in commands:
        argv = shlex.split(command, comments=True)[1:]
        argv = [str(CONFIGS / a.removeprefix("examples/configs/")) if a.startswith("examples/configs/") else a for a in argv]
        if argv[0] == "evolve" and "--resume" not in argv:
            argv += tiny
        elif argv[0] in ("evolve", "evaluate"):
            argv += ["--no-progress"]
        rc, _, err = run_cli(argv, capsys)
        assert rc == 0, f"{command}: {err}"
    assert (tmp_path / "compare.png").stat().st_size > 0 and (tmp_path / "runs" / "ga" / "best.gif").stat().st_size > 0


def test_readme_states_the_test_suite_time_and_its_extras():
    """Issue 19: "the test suite's ~9 minutes and heavy extras are not mentioned"."""
    text = " ".join(README.read_text().split())
    assert 'pip install -e ".[test]"' in text
    assert re.search(r"installs the test extras — Gymnasium's Box2D and MuJoCo envs, Ray and TensorBoard", text)
    assert re.search(r"took \d+(\.\d+)?[–-]\d+(\.\d+)? min", text), "README gives no time for the test suite"


def test_bench_extra_cannot_pull_a_gymnax_that_downgrades_gymnasium():
    """Issue 19: ``[bench]`` silently downgraded gymnasium (gymnax 0.x); its gymnax requirement must exclude 0.x."""
    import tomllib

    from packaging.requirements import Requirement

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    gymnax = [Requirement(r) for r in extras["bench"] if Requirement(r).name == "gymnax"]
    assert len(gymnax) == 1
    assert not gymnax[0].specifier.contains("0.0.9", prereleases=True) and gymnax[0].specifier.contains("1.0.1")


# ------------------------------------------------------------------------------ compiled rollouts on Discrete envs
COMPILE_DISCRETE = """
import torch
from metarl_gym.agents import MLPPolicy
from metarl_gym.envs import make
from metarl_gym.evolution import rollout
env = make("MetaRL/CartPole-v1", num_envs=16, max_episode_steps=20)
policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[4])
params = 0.3 * policy.random_params(16, generator=torch.Generator().manual_seed(0))
params[3] = float("nan")  # a marked row: bound_actions, invalid_action_rows and screen_actions all see it
expected = rollout(env, policy, params, seed=1, engine="loop")
got = rollout(env, policy, params, seed=1, block_size=16, compile=True)
import json
print(json.dumps([expected.tolist(), got.tolist()]))  # -Infinity for the marked row
"""


def test_compiled_rollout_on_a_discrete_env_compiles_cleanly(tmp_path):
    """Issue 19's newcomer item "the compile notice breaks the progress bar", on a Discrete env: ``int(space.start)``
    in the compiled step failed the inductor backend (``aten._local_scalar_dense``), so compiling CartPole printed
    ~330 lines of torch._dynamo warnings over the bar (and those frames ran eager). A subprocess: torch's log
    handler holds the stderr of the process that imported it, which pytest's capture does not see."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(metarl_gym.__file__).parent.parent), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", COMPILE_DISCRETE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "compiling the blocked rollout kernel" in done.stderr
    assert "Backend compiler" not in done.stderr and "torch/_dynamo" not in done.stderr, done.stderr[-3000:]
    expected, got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got[3] == expected[3] == -math.inf
    assert sum(math.isfinite(e) for e in expected) == 15
    assert max(abs(g - e) for g, e in zip(got, expected) if math.isfinite(e)) <= 1  # float32 round-off: a step at most
