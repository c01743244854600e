"""Every example script really runs (a tiny budget each, through its ``main(argv)``), and every shipped evolve config
resolves, builds its env / policy / strategy and runs one tiny generation.

examples/hebbian_ant.py has its own file (tests/test_hebbian_ant_example.py).
"""

import csv
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch
import yaml

from metarl_gym.config import apply_overrides
from metarl_gym.evolution.runner import evolve
from helpers import load_example

EXAMPLES = Path(__file__).parent.parent / "examples"
CONFIGS = sorted((EXAMPLES / "configs").glob("*.yaml"))
EVOLVE_CONFIGS = [p for p in CONFIGS if "strategy" in yaml.safe_load(p.read_text())]
SMOKE_TESTED = {
    "ga_cartpole", "ga_slimevolley", "openai_es_pendulum", "hebbian_cartpole", "learned_rule_double_pendulum", "carracing",
    "bipedal_distill", "multitask", "ppo_cartpole", "er_mrl_cartpole_masked", "hebbian_ant", "carracing_twin",
}
"""Examples with a smoke test below (hebbian_ant: in tests/test_hebbian_ant_example.py)."""


def test_every_example_script_has_a_smoke_test():
    scripts = {p.stem for p in EXAMPLES.glob("*.py")}
    assert not scripts - SMOKE_TESTED, (f"examples without a smoke test: {sorted(scripts - SMOKE_TESTED)}; add one to "
                                        "tests/test_examples.py (a tiny budget, seconds) and list the name in SMOKE_TESTED")
    assert not SMOKE_TESTED - scripts, f"SMOKE_TESTED names examples that are gone: {sorted(SMOKE_TESTED - scripts)}"


def test_there_are_evolve_examples():
    names = {p.name for p in EVOLVE_CONFIGS}
    assert {"ga_cartpole.yaml", "openai_es_pendulum.yaml", "cma_es_pendulum.yaml"} <= names


@pytest.mark.parametrize("path", EVOLVE_CONFIGS, ids=lambda p: p.name)
def test_evolve_config_runs_one_tiny_generation(path, tmp_path):
    config = yaml.safe_load(path.read_text())
    config = apply_overrides(config, ["generations=1", "strategy.pop_size=4", "episodes=1", "env.kwargs.max_episode_steps=5"])
    kwargs = config["strategy"].get("kwargs") or {}
    if "num_survivors" in kwargs:  # keep the GA's survivors within the tiny population
        kwargs["num_survivors"] = 2
    summary = evolve(config, tmp_path / "run", progress=False)
    assert summary["generations"] == 1
    assert (tmp_path / "run" / "best.pt").exists() or summary["best_generation"] == -1


# ------------------------------------------------------------------------------------- the example scripts
def printed_generations(out: str) -> list[tuple[int, float, float]]:
    """(generation, best, mean) of the ``generation G  best B  mean M`` lines an example printed."""
    return [(int(g), float(b), float(m)) for g, b, m in re.findall(r"generation\s+(\d+)\s+best\s+(\S+)\s+mean\s+(\S+)", out)]


def metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_ga_cartpole_loop_is_the_runners_loop(tmp_path, capsys):
    """The ten-line loop keys individuals as metarl-gym evolve does: the same generations as the run of its config."""
    result = load_example("ga_cartpole").main(["--generations", "3", "--pop-size", "8", "--episodes", "2", "--test-episodes", "3"])
    printed = printed_generations(capsys.readouterr().out)
    assert len(printed) == 3 and 0 < result <= 500
    evolve(apply_overrides(yaml.safe_load((EXAMPLES / "configs" / "ga_cartpole.yaml").read_text()),
                           ["generations=3", "strategy.pop_size=8", "episodes=2"]), tmp_path / "run", progress=False)
    for (g, best, mean), row in zip(printed, metrics(tmp_path / "run")):
        assert g == int(row["generation"])
        assert best == pytest.approx(float(row["best"]), abs=0.06) and mean == pytest.approx(float(row["mean"]), abs=0.06)


@pytest.mark.parametrize("variant", ["seed", "baseline-es"])
def test_ga_slimevolley_scores_the_evolved_agent_a_random_agent_and_the_baseline(variant, tmp_path):
    result = load_example("ga_slimevolley").main([
        "--variant", variant, "--generations", "2", "--pop-size", "4", "--games", "1", "--max-steps", "100",
        "--curve-every", "1", "--curve-games", "2", "--validation-games", "2", "--test-games", "4", "--out", str(tmp_path)])
    assert result["tells"] == 2 and len(result["curve"]) == 2 and (tmp_path / "results.json").exists()
    for name in ("evolved", "random", "baseline"):
        r = result[name]
        assert r["games"] == 4 and -5 <= r["mean"] <= 5 and r["win"] + r["draw"] + r["loss"] == pytest.approx(1.0)


@pytest.mark.parametrize("strategy", ["openai_es", "cma_es"])
def test_openai_es_pendulum_loop_is_the_runners_loop(strategy, tmp_path, capsys):
    load_example("openai_es_pendulum").main(["--strategy", strategy, "--generations", "2", "--pop-size", "6",
                                             "--episodes", "2", "--test-episodes", "2"])
    printed = printed_generations(capsys.readouterr().out)
    assert [g for g, _, _ in printed] == [0, 1]
    config = yaml.safe_load((EXAMPLES / "configs" / f"{strategy}_pendulum.yaml").read_text())
    evolve(apply_overrides(config, ["generations=2", "strategy.pop_size=6", "episodes=2"]), tmp_path / "run", progress=False)
    for (_, best, mean), row in zip(printed, metrics(tmp_path / "run")):
        assert best == pytest.approx(float(row["best"]), abs=0.06) and mean == pytest.approx(float(row["mean"]), abs=0.06)


def test_hebbian_cartpole_runs_plastic_and_frozen(tmp_path, capsys):
    run_dir = tmp_path / "heb"
    results = load_example("hebbian_cartpole").main(["--run-dir", str(run_dir), "--eval-lifetimes", "3", "generations=2",
                                                     "strategy.pop_size=4", "policy.kwargs.hidden_sizes=[4]",
                                                     "env.kwargs.max_episode_steps=30"])
    assert set(results) == {"plastic", "frozen (plasticity: false)"}
    assert all(0 < mean <= 30 for mean, _ in results.values())
    assert len(metrics(run_dir)) == 2 and len(metrics(Path(f"{run_dir}-static"))) == 2
    assert "fresh lifetimes" in capsys.readouterr().out


def test_learned_rule_double_pendulum_measures_both_halves(tmp_path):
    out = load_example("learned_rule_double_pendulum").main([
        "--run-dir", str(tmp_path / "lr"), "--lifetimes", "3", "--random-rules", "3", "generations=2",
        "strategy.pop_size=4", "strategy.kwargs.num_survivors=2", "env.kwargs.max_episode_steps=10"])
    for name in ("evolved", "random"):
        assert len(out[name]["episodes"]) == 4  # the config's 4-episode lifetime
        assert out[name]["first"] + out[name]["gain"] == pytest.approx(out[name]["second"])


@pytest.mark.parametrize("mode", ["ga", "hebbian"])
def test_carracing_scores_solution_and_control_on_the_same_heldout_tracks(mode, tmp_path):
    pytest.importorskip("Box2D")
    result = load_example("carracing").main([mode, "--run-dir", str(tmp_path / mode), "--generations", "1",
                                             "--pop", "4", "--tracks", "2", "--max-steps", "8"])
    assert result["generations_run"] == 1 and len(result["evolved_heldout"]) == len(result["random_heldout"]) == 2
    assert (tmp_path / mode / "heldout.json").exists()


@pytest.fixture(scope="module")
def walker_teacher(tmp_path_factory):
    """A tiny GA BipedalWalker run (the teacher of bipedal_distill and multitask)."""
    pytest.importorskip("Box2D")
    run_dir = tmp_path_factory.mktemp("walker") / "teacher"
    config = apply_overrides(yaml.safe_load((EXAMPLES / "configs" / "ga_bipedal.yaml").read_text()),
                             ["generations=1", "strategy.pop_size=4", "strategy.kwargs.num_survivors=2", "env.kwargs.max_episode_steps=20"])
    evolve(config, run_dir, progress=False)
    return run_dir


def test_bipedal_distill_scores_teacher_and_students(walker_teacher, tmp_path):
    out = tmp_path / "distill.json"
    result = load_example("bipedal_distill").main(["--teacher", str(walker_teacher), "--runs", "2", "--k", "4", "24",
                                                   "--episodes", "2", "--max-steps", "20", "--out", str(out)])
    assert out.exists() and result["rows"] > 0
    assert result["student_4-4-4"]["params"] == 4 * 4 + 4 + 4 * 4 + 4
    assert all(torch.isfinite(torch.tensor(result[k]["heldout_mean"])) for k in ("student_4-4-4", "student_24-24-4"))


def test_bipedal_distill_student_genome_computes_the_student():
    example = load_example("bipedal_distill")
    from gymnasium.spaces import Box

    from metarl_gym.agents import MLPPolicy

    obs_space, action_space = Box(-5, 5, (24,)), Box(-1, 1, (4,))
    obs = torch.randn(50, 24, generator=torch.Generator().manual_seed(0))
    layers, _ = example.train_student(obs, torch.rand(50, 4) * 2 - 1, 4, epochs=1)
    policy = MLPPolicy(obs_space, action_space, hidden_sizes=[4], activation="identity", output="tanh")
    genome = example.student_genome(policy, layers, 4)
    actions, _ = policy.act(genome.expand(50, -1), obs, policy.initial_state(genome.expand(50, -1)))
    with torch.no_grad():
        expected = torch.tanh(layers[1](layers[0](obs[:, :4])))
    assert torch.allclose(actions, expected, atol=1e-5)


def test_multitask_plays_the_four_conditions(walker_teacher, tmp_path):
    work = tmp_path / "multitask"
    cart = yaml.safe_load((EXAMPLES / "configs" / "ga_cartpole.yaml").read_text())  # a tiny CartPole teacher, reused
    evolve(apply_overrides(cart, ["generations=1", "strategy.pop_size=4", "episodes=1"]), work / "cartpole_teacher", progress=False)
    result = load_example("multitask").main(["--walker-teacher", str(walker_teacher), "--cart-runs", "3", "--walker-runs", "2",
                                             "--episodes", "2", "--max-steps", "20", "--work-dir", str(work)])
    assert set(result["table"]) == {"both correct", "CartPole noise", "Walker noise", "both noise"}
    assert (work / "multitask.json").exists()


def test_ppo_cartpole_trains_and_evaluates():
    pytest.importorskip("stable_baselines3")
    mean = load_example("ppo_cartpole").main(["--total-timesteps", "256", "--mask-velocity", "--reservoir"])
    assert 0 < mean <= 500


def test_er_mrl_cartpole_masked_runs_a_tiny_study(tmp_path, monkeypatch):
    pytest.importorskip("stable_baselines3")
    run_dir = tmp_path / "er"
    monkeypatch.setattr(sys, "argv", [
        "er_mrl_cartpole_masked.py", "--run-dir", str(run_dir), "workers=1", "search.generations=1", "search.pop_size=3",
        "fitness.seeds=1", "fitness.total_timesteps=64", "fitness.last_episodes=2", "fitness.random_episodes=2",
        "reservoir.units=10", "ppo.num_envs=2", "ppo.algorithm_kwargs.batch_size=32", "ppo.algorithm_kwargs.n_epochs=1",
        "test.seeds=1", "test.total_timesteps=64"])
    try:
        runpy.run_path(str(EXAMPLES / "er_mrl_cartpole_masked.py"), run_name="__main__")
    except SystemExit as stop:
        assert stop.code in (0, None)
    assert (run_dir / "test_summary.json").exists()


def test_carracing_twin_evolves_on_the_twin_and_scores_on_carracing_v3(tmp_path):
    """examples/carracing_twin.py at a tiny budget: one generation on MetaRL/CarRacing-v0, one held-out track
    scored on the twin and on CarRacing-v3 itself."""
    pytest.importorskip("Box2D")
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "carracing_twin.py"), "hebbian", "--run-dir", str(tmp_path / "run"),
         "--generations", "1", "--pop", "4", "--tracks", "1", "--max-steps", "20"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert '"real_mean"' in out.stdout and '"twin_mean"' in out.stdout
