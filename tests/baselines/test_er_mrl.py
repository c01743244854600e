"""ER-MRL with tiny budgets: search space, a study (the runner's generation loop with the PPO-trial backend) that
runs and resumes exactly, test protocol, generalisation, run-directory safety (no data loss after the checkpoint
write, crafted pickles refused), ``metarl-gym er-mrl`` with one-line user errors."""

import csv
import json
import math
import pickle

import numpy as np
import pytest
import torch
import yaml

from metarl_gym.baselines.er_mrl.search_space import to_unit_box
from metarl_gym.baselines.er_mrl import SEARCH_BOUNDS, build_strategy, decode, encode, parameter_names, resolve_er_mrl_config, resume_er_mrl, run_er_mrl, run_trial
from metarl_gym.cli import main
from metarl_gym.evolution import GA
from metarl_gym.evolution.runner import EvolutionRun
from metarl_gym.errors import UserError
from metarl_gym.run_dir import RunDir

from helpers import tiny_study


def test_search_space_is_log_scaled_within_the_bounds():
    config = resolve_er_mrl_config(tiny_study(reservoir={"nb_res": 2, "units": 10}))
    assert parameter_names(config) == ["spectral_radius_0", "leak_rate_0", "input_scaling_0", "spectral_radius_1", "leak_rate_1", "input_scaling_1"]
    low, high = decode(np.zeros(6), config), decode(np.ones(6), config)
    for name in parameter_names(config):
        lo, hi = SEARCH_BOUNDS[name.rsplit("_", 1)[0]]
        assert math.isclose(low[name], lo) and math.isclose(high[name], hi)
    assert math.isclose(decode(np.full(6, 0.5), config)["spectral_radius_0"], 0.1)  # centre of [1e-4, 1e2] in log scale
    z = np.random.default_rng(0).uniform(size=6)
    np.testing.assert_allclose(encode(decode(z, config), config), z)
    fixed = resolve_er_mrl_config(tiny_study(search={"evolve_input_scaling": False}))
    assert parameter_names(fixed) == ["spectral_radius_0", "leak_rate_0"]



def test_study_strategy_is_cma_es_without_mirrors_seeded_from_the_run_seed():
    config = resolve_er_mrl_config(tiny_study(seed=7, search={"pop_size": 4, "sigma0": 0.2, "x0": {"spectral_radius": 1.0}}))
    strategy = build_strategy(config)
    assert strategy.es.opts["CMA_mirrors"] == 0 and strategy.seed == 8 and strategy.pop_size == 4 and strategy.sigma == 0.2
    start = decode(to_unit_box(strategy.center.double().numpy()), config)
    assert math.isclose(start["spectral_radius_0"], 1.0, rel_tol=1e-5) and math.isclose(start["leak_rate_0"], 0.1, rel_tol=1e-5)
    a, b = build_strategy(config).ask(), build_strategy(config).ask()
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])  # seeded by the run seed


class ToyBackend:
    """A backend with every hook the study uses (state, reports, an extra column): fitness -|x|^2."""

    def __init__(self):
        self.seen, self.closed = [], False

    def evaluate(self, params, generation):
        self.seen.append(generation)
        return -(params**2).sum(dim=1), {"env_steps": 10, "metrics": {"calls": len(self.seen)}}

    def state_dict(self):
        return {"seen": list(self.seen)}

    def load_state_dict(self, state):
        self.seen = list(state["seen"])

    def write_reports(self, run_dir):
        run_dir.write_json("seen.json", self.seen)

    def close(self):
        self.closed = True


def test_the_runner_loop_runs_any_backend_and_resumes_its_state(tmp_path):
    def run(path, generations, resume=False):
        rd = RunDir(path, "er_mrl").open_existing() if resume else RunDir(path, "er_mrl").create({"toy": 1})
        backend = ToyBackend()
        loop = EvolutionRun({"device": "cpu"}, rd, strategy=GA(3, pop_size=4, seed=1), backend=backend, name="toy",
                            generations=generations, checkpoint_every=1, best_pt=False)
        with rd.lock():
            loop.restore()
            loop.run(progress=False)
        assert backend.closed
        return backend

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "split", 2)
    resumed = run(tmp_path / "split", 4, resume=True)
    assert straight.seen == resumed.seen == [0, 1, 2, 3]
    assert study_rows(tmp_path / "split") == study_rows(tmp_path / "straight")
    assert [r["calls"] for r in study_rows(tmp_path / "split")] == ["1", "2", "3", "4"]
    assert json.loads((tmp_path / "split" / "seen.json").read_text()) == [0, 1, 2, 3]
    assert not (tmp_path / "split" / "best.pt").exists() and (tmp_path / "split" / "fitness.png").exists()

def test_study_runs_tests_and_resumes(tmp_path):
    summary = run_er_mrl(tiny_study(), tmp_path / "a", progress=False)
    run_dir = tmp_path / "a"
    for name in ("run.json", "config.yaml", "checkpoint.pt", "history.json", "metrics.csv", "best.json", "fitness.png", "comparison.png", "test_summary.json"):
        assert (run_dir / name).exists(), name
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history) == 3 and all(math.isfinite(h["fitness"]) for h in history)
    for seed in range(2):
        for condition in ("ppo", "res_ppo"):
            assert (run_dir / "test" / condition / f"seed_{seed}" / "metrics.csv").exists()
    test = summary["test"]
    assert set(test["conditions"]) == {"ppo", "res_ppo"} and isinstance(test["reservoir_beats_ppo"], bool)
    assert len(test["conditions"]["res_ppo"]["final_returns"]) == 2

    # the study is a runner run: its columns, then the strategy's sigma and the backend's trials (PPO runs)
    with open(run_dir / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert header == ["generation", "best", "mean", "median", "worst", "best_ever", "num_nonfinite", "env_steps", "wall_s", "sigma", "trials"]
    assert study_rows(run_dir)[0]["trials"] == "3"
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert checkpoint["generation"] == 1 and len(checkpoint["backend"]["history"]) == 3 and checkpoint["backend"]["random_scores"] == {}
    assert not (run_dir / "best.pt").exists()  # best.json is the study's solution

    # continue the same study for one more generation: equals a study run for two generations in one go
    more = resume_er_mrl(run_dir, {"search": {"generations": 2}}, progress=False, test=False)
    assert more["generations"] == 2
    straight = run_er_mrl(tiny_study(search={"generations": 2, "pop_size": 3, "sigma0": 0.3}), tmp_path / "b", progress=False, test=False)
    resumed = json.loads((run_dir / "history.json").read_text())
    direct = json.loads((tmp_path / "b" / "history.json").read_text())
    assert [h["params"] for h in resumed] == [h["params"] for h in direct]
    assert [h["fitness"] for h in resumed] == [h["fitness"] for h in direct]
    assert straight["best"] == more["best"]
    assert len((run_dir / "metrics.csv").read_text().strip().splitlines()) == 3

    with pytest.raises(UserError, match=r"config key\(s\) \['fitness.seeds'\] differ"):
        run_er_mrl(tiny_study(fitness={"seeds": 2, "total_timesteps": 64}), run_dir, progress=False)
    with pytest.raises(UserError, match=r"only search.generations, workers, threads, distributed may change, got fitness.seeds"):
        resume_er_mrl(run_dir, {"fitness": {"seeds": 2}})
    with pytest.raises(UserError, match=r"has 2 generations already; set it to 2 or more"):
        resume_er_mrl(run_dir, {"search": {"generations": 1}}, progress=False, test=False)
    (run_dir / "config.yaml").write_text((run_dir / "config.yaml").read_text().replace("sigma0: 0.3", "sigma0: 0.4"))
    with pytest.raises(UserError, match=r"config key\(s\) \['search.sigma0'\] were edited after the run started"):
        resume_er_mrl(run_dir)


def test_generalisation_with_normalised_fitness_and_workers(tmp_path):
    config = tiny_study(
        envs=[
            {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 20}, "mask_velocity": True},
            {"id": "MetaRL/PendulumSwingup-v1", "kwargs": {"max_episode_steps": 16}, "mask_velocity": True, "target_score": -50.0},
        ],
        test={"env": {"id": "MetaRL/Pendulum-v0", "kwargs": {"max_episode_steps": 16}, "mask_velocity": True}, "seeds": 1, "total_timesteps": 64},
        workers=2,
    )
    summary = run_er_mrl(config, tmp_path, progress=False)
    best = json.loads((tmp_path / "best.json").read_text())
    random_scores = best["random_scores"]
    assert set(random_scores) == {"0", "1"}
    assert 5 < random_scores["0"] < 20  # a random policy keeps the pole up ~20 steps (episodes cut at 20)
    scores = best["scores"]
    expected = np.mean([(scores["0"] - random_scores["0"]) / (500 - random_scores["0"]), (scores["1"] - random_scores["1"]) / (-50 - random_scores["1"])])
    assert math.isclose(best["fitness"], expected, rel_tol=1e-9)
    assert summary["test"]["env"]["id"] == "MetaRL/Pendulum-v0"
    assert (tmp_path / "comparison.png").exists()


@pytest.mark.parametrize(
    "overrides, key",
    [
        (dict(envs=[]), "envs"),
        (dict(envs=[{"id": "MetaRL/Nope-v0"}]), "envs.0.id"),
        (dict(search={"pop_size": 1}), "search.pop_size"),
        (dict(search={"sigma0": 2.0}), "search.sigma0"),
        (dict(search={"x0": {"spectral_radius": 1e3}}), "search.x0.spectral_radius"),
        (dict(reservoir={"units": 0}), "reservoir.units"),
        (dict(reservoir={"rc_connectivity": 0.0}), "reservoir.rc_connectivity"),
        (dict(fitness={"seed": 3}), "fitness.seed"),
        (dict(ppo={"num_envs": 2, "algorithm_kwargs": {"nsteps": 4}}), "ppo.algorithm_kwargs.nsteps"),
        (dict(envs=[{"id": "MetaRL/CartPole-v1"}, {"id": "MetaRL/DoublePendulum-v0"}]), "envs.1.target_score"),
        (dict(generations=3), "generations"),
        (dict(envs=[{"id": "MetaRL/CartPole-v1", "mask_velocity": "false"}]), "envs.0.mask_velocity"),
        (dict(envs=[{"id": "MetaRL/CartPole-v1", "kwargs": {"gravty": 1.0}}]), "envs.0.kwargs.gravty"),
        (dict(envs=[{"id": "MetaRL/CartPole-v1", "kwargs": {"length": float("nan")}}]), "envs.0.kwargs.length"),
        (dict(ppo={"algorithm_kwargs": {"learning_rate": "exp_1"}}), "ppo.algorithm_kwargs.learning_rate"),
        (dict(ppo={"algorithm_kwargs": {"seed": 1}}), "ppo.algorithm_kwargs.seed"),
        (dict(seed=-1), "seed"),
    ],
)
def test_config_errors_name_the_key(overrides, key):
    with pytest.raises(ValueError, match=f"config key '{key}'"):
        resolve_er_mrl_config(tiny_study(**overrides))


def study_rows(run_dir):
    """metrics.csv rows without wall_s (the only column allowed to differ between runs)."""
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(f)]


def test_kill_after_the_checkpoint_write_keeps_the_last_generation(tmp_path, monkeypatch):
    """The seed wrote study.pkl first, so a kill right after it lost that generation from metrics.csv and
    history.json. Now the checkpoint is written last: everything it accounts for is already on disk."""
    config = tiny_study(search={"generations": 2, "pop_size": 3, "sigma0": 0.3})
    direct = run_er_mrl(config, tmp_path / "direct", progress=False, test=False)

    original = RunDir.save_checkpoint
    saves = []

    def save_then_die(self, obj):
        original(self, obj)
        saves.append(obj["strategy"]["generation"])
        if obj["strategy"]["generation"] == 2:
            raise KeyboardInterrupt  # the process dies right after writing generation 2's checkpoint

    monkeypatch.setattr(RunDir, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_er_mrl(config, tmp_path / "killed", progress=False, test=False)
    monkeypatch.setattr(RunDir, "save_checkpoint", original)
    assert saves == [1, 2]  # one checkpoint per generation, after its metrics row and reports
    killed = tmp_path / "killed"
    assert study_rows(killed) == study_rows(tmp_path / "direct")
    assert json.loads((killed / "history.json").read_text()) == json.loads((tmp_path / "direct" / "history.json").read_text())
    resumed = run_er_mrl(config, killed, progress=False, test=False)
    assert resumed["best"] == direct["best"] and resumed["generations"] == 2
    assert study_rows(killed) == study_rows(tmp_path / "direct")


def test_kill_before_the_checkpoint_write_recomputes_the_generation(tmp_path, monkeypatch):
    """A metrics row (and history) written for a generation whose checkpoint never landed is cut back on resume."""
    config = tiny_study(search={"generations": 2, "pop_size": 3, "sigma0": 0.3})
    run_er_mrl(config, tmp_path / "direct", progress=False, test=False)
    original = RunDir.save_checkpoint

    def die_before(self, obj):
        if obj["strategy"]["generation"] == 2:
            raise KeyboardInterrupt
        original(self, obj)

    monkeypatch.setattr(RunDir, "save_checkpoint", die_before)
    with pytest.raises(KeyboardInterrupt):
        run_er_mrl(config, tmp_path / "killed", progress=False, test=False)
    monkeypatch.setattr(RunDir, "save_checkpoint", original)
    killed = tmp_path / "killed"
    with open(killed / "metrics.csv", "a") as f:
        f.write("3,0.5,0.")  # and a partial line, as a kill in the middle of a row leaves
    run_er_mrl(config, killed, progress=False, test=False)
    assert study_rows(killed) == study_rows(tmp_path / "direct")
    assert json.loads((killed / "history.json").read_text()) == json.loads((tmp_path / "direct" / "history.json").read_text())


class _Marker:
    """Pickles to a call that creates a marker file: what a crafted file would run on load."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_crafted_pickles_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "marker"
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "study.pkl").write_bytes(pickle.dumps({"es": _Marker(marker)}))  # an old version's pickled study
    with pytest.raises(UserError, match=r"files metarl-gym did not write \(study.pkl\)"):
        run_er_mrl(tiny_study(), legacy, progress=False, test=False)
    assert not marker.exists()

    run = tmp_path / "run"
    run_er_mrl(tiny_study(), run, progress=False, test=False)
    good = torch.load(run / "checkpoint.pt", weights_only=True)
    torch.save({"format": 1, "strategy": _Marker(marker)}, run / "checkpoint.pt")
    with pytest.raises(UserError, match="refusing to load .*checkpoint.pt"):
        run_er_mrl(tiny_study(), run, progress=False, test=False)
    assert not marker.exists()
    # a valid checkpoint with a crafted blob where the CMA-ES state once held a pickle: run.json's sha256 names it
    good["strategy"]["strategy_state"]["cma_es"] = pickle.dumps(_Marker(marker))
    torch.save(good, run / "checkpoint.pt")
    with pytest.raises(UserError, match="checkpoint.pt is corrupt: its sha256 differs"):
        run_er_mrl(tiny_study(), run, progress=False, test=False)
    assert not marker.exists()


def test_run_directory_of_another_kind_or_in_use_is_refused(tmp_path):
    RunDir(tmp_path / "evolve", "evolve").create({"generations": 1})
    with pytest.raises(UserError, match="holds an? evolve run"):
        run_er_mrl(tiny_study(), tmp_path / "evolve", progress=False, test=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="files metarl-gym did not write"):
        run_er_mrl(tiny_study(), foreign, progress=False, test=False)
    assert (foreign / "notes.txt").read_text() == "mine"
    busy = RunDir(tmp_path / "busy", "er_mrl")
    run_er_mrl(tiny_study(), tmp_path / "busy", progress=False, test=False)
    with busy.open_existing().lock(), pytest.raises(UserError, match="in use by another process"):
        run_er_mrl(tiny_study(search={"generations": 2, "pop_size": 3, "sigma0": 0.3}), tmp_path / "busy", progress=False, test=False)


def test_trials_go_through_the_given_map_function(tmp_path):
    calls = []

    def recording_map(fn, specs):
        calls.append((fn, [s["kind"] for s in specs]))
        return [fn(yaml.safe_load(yaml.safe_dump(s))) for s in specs]  # plain YAML-able specs, as Ray would ship them

    mapped = run_er_mrl(tiny_study(), tmp_path / "mapped", progress=False, map_fn=recording_map)
    assert calls[0] == (run_trial, ["score"] * 3)  # one call per generation: pop_size x envs x seeds trials
    assert [kinds for _, kinds in calls[1:]] == [["test"]] * 4  # then the test runs, one batch per worker
    local = run_er_mrl(tiny_study(), tmp_path / "local", progress=False)
    assert mapped["best"] == local["best"] and mapped["test"] == local["test"]


def test_command_line_errors_are_one_line_with_exit_status_2(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_study()))
    assert main(["er-mrl", str(path), "--run-dir", str(tmp_path / "r"), "search.pop_size=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("metarl-gym er-mrl: error: config key 'search.pop_size': must be >= 3, got 2")
    path.write_text("envs:\n  - id: [unclosed\n")
    assert main(["er-mrl", str(path), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{path}:3:1" in err
    for argv, says in [
        (["er-mrl"], "needs a YAML config"),
        (["er-mrl", str(path), "--resume", str(tmp_path / "r")], "--resume DIR takes no config"),
        (["er-mrl", "--resume", str(tmp_path / "nothing")], "does not exist"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and says in err, err


def test_progress_bar_and_command_line_run(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_study(test={"seeds": 1, "total_timesteps": 64})))
    assert main(["er-mrl", str(path), "--run-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr()
    assert "er-mrl: 100%" in out.err and "1/1" in out.err and "er-mrl test" in out.err
    assert "best reservoir:" in out.out and "plain PPO" in out.out
    # --resume with search.generations=2 (an override after the options) extends the study; the test runs are kept
    assert main(["er-mrl", "--resume", str(tmp_path / "r"), "--no-progress", "search.generations=2", "--no-test"]) == 0
    assert "of 0..1; study" in capsys.readouterr().out
    assert len(study_rows(tmp_path / "r")) == 2
    assert main(["er-mrl", "--resume", str(tmp_path / "r"), "seed=3"]) == 2
    assert "only search.generations, workers, threads, distributed may change, got seed" in capsys.readouterr().err
