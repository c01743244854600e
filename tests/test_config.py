"""The config schema: types, ranges, finiteness and kwargs checked against signatures, with the key path named."""

from typing import Any

import pytest
import torch

from metarl_gym.cli import main
from metarl_gym.config import ConfigError, resolve_evolve_config
from metarl_gym.config.base import ConfigModel, Count, Invalid, check_kwargs, validate
from metarl_gym.errors import UserError


@pytest.mark.parametrize(
    "config, key, words",
    [
        ({"env": {"mask_velocity": "false"}}, "env.mask_velocity", "true or false"),
        ({"policy": {"name": "learned_rule", "kwargs": {"learning_rate": float("inf")}}}, "policy.kwargs.learning_rate", "finite"),
        ({"policy": {"kwargs": {"hidden_sizes": 16}}}, "policy.kwargs.hidden_sizes", "a list"),
        ({"policy": {"kwargs": {"hiden_sizes": [16]}}}, "policy.kwargs.hiden_sizes", "did you mean 'hidden_sizes'"),
        ({"strategy": {"name": "cma_es", "kwargs": {"sigma": 1.0}}}, "strategy.kwargs.sigma", "accepted: ['sigma0'"),
        ({"strategy": {"kwargs": {"seed": 3}}}, "strategy.kwargs.seed", "set by metarl-gym itself"),
        ({"env": {"kwargs": {"gravty": 9.8}}}, "env.kwargs.gravty", "did you mean 'gravity'"),
        ({"env": {"id": "MetaRL/CartPol-v1"}}, "env.id", "did you mean 'MetaRL/CartPole-v1'"),
        ({"seed": 2**70}, "seed", "<= 9223372036854775807"),
        ({"seed": -1}, "seed", ">= 0"),
        ({"generations": True}, "generations", "integer"),
        ({"device": "cuda"}, "device", "device: cpu"),
        ({"device": "gpu0"}, "device", "not a torch device"),
        ({"rollout": {"fast": {"block_size": 8}}}, "rollout.fast", "rollout.engine"),
        ({"rollout": {"early_stop": {"patience": 0}}}, "rollout.early_stop.patience", ">= 1"),
        ({"distributed": {"num_cpus_per_worker": 0}}, "distributed.num_cpus_per_worker", "> 0"),
        ({"distributed": {"address": 5}}, "distributed.address", "string"),
        ({"logging": {"tensorboard": "yes"}}, "logging.tensorboard", "true or false"),
    ],
)
def test_bad_values_name_the_key_path(config, key, words):
    import torch

    if key == "device" and config["device"] == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ConfigError, match=f"config key '{key}'") as info:
        resolve_evolve_config(config)
    assert words in str(info.value)
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)


def test_yaml_lists_stand_for_tuples_inside_kwargs():
    """A YAML list stands for a tuple at any depth of a kwarg (task_ranges: {gravity: [8, 12]} is a
    dict[str, tuple[float, float]]); a list of the wrong length is still refused."""
    config = resolve_evolve_config({"env": {"kwargs": {"task_ranges": {"gravity": [8.0, 12]}}}})
    assert config["env"]["kwargs"]["task_ranges"] == {"gravity": [8.0, 12]}
    with pytest.raises(ConfigError, match="config key 'env.kwargs.task_ranges'"):
        resolve_evolve_config({"env": {"kwargs": {"task_ranges": {"gravity": [8.0, 12, 3]}}}})


def test_resolve_is_idempotent_and_has_the_new_sections():
    config = resolve_evolve_config({"rollout": {"engine": "loop"}, "distributed": {"num_workers": 3}})
    assert resolve_evolve_config(config) == config
    assert config["rollout"] == {"early_stop": None, "engine": "loop", "block_size": None, "compile": "auto"}
    assert config["distributed"]["backend"] == "local" and config["distributed"]["num_workers"] == 3
    assert "fast" not in config["rollout"]
    for value in (True, False, "auto"):
        assert resolve_evolve_config({"rollout": {"compile": value}})["rollout"]["compile"] == value
    with pytest.raises(ConfigError, match="rollout.compile.*true, false or auto"):
        resolve_evolve_config({"rollout": {"compile": "yes"}})


def test_building_blocks():
    from typing import Annotated, Literal

    from pydantic import Field, model_validator

    class Inner(ConfigModel):
        k: int = 2

    class Section(ConfigModel):
        REMOVED = {"old": "say it with n"}
        n: Count = 1
        x: Annotated[float, Field(ge=0, le=1)] = 0.5
        flag: bool = False
        mode: Literal["a", "b"] = "a"
        sizes: list[Count] = [8]
        opt: Inner | None = None
        kw: dict[str, Any] = {}

        @model_validator(mode="after")
        def _kw(self):
            self.kw = check_kwargs(self.kw, _target, key="kw")
            return self

    assert validate(Section, {}) == {"n": 1, "x": 0.5, "flag": False, "mode": "a", "sizes": [8], "opt": None, "kw": {}}
    assert validate(Section, {"n": 1e3, "opt": {}, "kw": {"beta": 2}})["n"] == 1000  # YAML 1.0e3 is a float
    for bad, key, words in [({"x": 1.5}, "x", "<= 1"), ({"x": float("nan")}, "x", "finite"), ({"sizes": 8}, "sizes", "a list"),
                            ({"sizes": [0]}, "sizes.0", ">= 1"), ({"old": 1}, "old", "say it with n"), ({"mode": "c"}, "mode", "allowed values: ['a', 'b']"),
                            ({"opt": {"q": 1}}, "opt.q", "unknown key"), ({"kw": {"gamma": 1}}, "kw.gamma", "not an argument"),
                            ({"kw": {"alpha": "x"}}, "kw.alpha", "float"), ({"kw": {"beta": [float("inf")]}}, "kw.beta.0", "finite"),
                            ({"flag": 1}, "flag", "true or false"), ({"extra": 1}, "extra", "accepted keys"), ({"n": 2.5}, "n", "integer"),
                            ({"n": True}, "n", "integer"), ("text", "<root>", "mapping")]:
        with pytest.raises(ConfigError, match=f"config key '{key}'") as info:
            validate(Section, bad)
        assert words in str(info.value), str(info.value)
    with pytest.raises(Invalid) as info:  # a YAML list stands for a tuple, a number does not
        check_kwargs({"beta": 3}, _takes_tuple)
    assert info.value.key == "kwargs.beta"
    assert check_kwargs({"beta": [1, 2]}, _takes_tuple) == {"beta": [1, 2]}


def _target(alpha: float = 1.0, *, beta: Any) -> None:
    return None


def _takes_tuple(*, beta: tuple[int, ...] = (1,)) -> None:
    return None


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    for override in ["policy.kwargs.hidden_sizes=16", "seed=1180591620717411303424", "policy.kwargs.activaton=relu"]:
        assert main(["evolve", override, "--run-dir", str(tmp_path / "r"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing is written for a config that does not resolve


def test_resume_accepts_result_neutral_distributed_edits_only():
    from metarl_gym.config import check_resume_config

    stored = resolve_evolve_config({"distributed": {"slice_size": 8}})
    moved = resolve_evolve_config({"distributed": {"slice_size": 8, "num_workers": 6, "address": "auto", "max_failures": 0}})
    check_resume_config(stored, {**moved, "generations": 99}, "c.yaml")  # hardware and length may change
    with pytest.raises(UserError, match="distributed.slice_size"):
        check_resume_config(stored, resolve_evolve_config({"distributed": {"slice_size": 4}}), "c.yaml")
    unsliced = resolve_evolve_config({})
    with pytest.raises(UserError, match="distributed.num_workers"):  # without a fixed slice_size it moves the slices
        check_resume_config(unsliced, resolve_evolve_config({"distributed": {"num_workers": 3}}), "c.yaml")


def test_tensorboard_scalars_per_generation(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from metarl_gym.evolution.runner import evolve

    config = {"strategy": {"name": "ga", "pop_size": 8, "kwargs": {"num_survivors": 2}}, "generations": 3,
              "env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 20}}, "logging": {"tensorboard": True}}
    evolve(config, tmp_path / "run", progress=False)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    best = events.Scalars("evolve/best")
    assert [e.step for e in best] == [0, 1, 2]
    import csv

    with open(tmp_path / "run" / "metrics.csv") as f:
        assert [float(r["best"]) for r in csv.DictReader(f)] == pytest.approx([e.value for e in best])


def test_fitness_plot_written_when_a_run_ends(tmp_path):
    from PIL import Image

    from metarl_gym.evolution.runner import evolve

    evolve({"strategy": {"name": "ga", "pop_size": 8, "kwargs": {"num_survivors": 2}}, "generations": 2}, tmp_path / "run", progress=False)
    with Image.open(tmp_path / "run" / "fitness.png") as image:
        assert image.size[0] > 100


def test_resume_diff_reads_a_missing_key_as_null_and_names_real_edits():
    from metarl_gym.config import config_differences

    saved = {"envs": [{"id": "a", "kwargs": {}}], "search": {"generations": 2, "sigma0": 0.25}, "workers": 1}
    newer = {"envs": [{"id": "a", "kwargs": {}, "reservoir": None}], "search": {"generations": 5, "sigma0": 0.25}, "workers": 4}
    assert config_differences(saved, newer, ("search.generations", "workers")) == []  # a later schema's null key
    edited = {**newer, "envs": [{"id": "a", "kwargs": {"g": 1.0}, "reservoir": {"units": 8}}]}
    assert [key for key, _, _ in config_differences(saved, edited, ("search.generations", "workers"))] == ["envs.0.kwargs.g", "envs.0.reservoir"]
    assert config_differences({"x": 1}, {"x": 1.0}) == [] and config_differences({"x": True}, {"x": 1}) == [("x", True, 1)]


def test_env_dtype_by_name_from_yaml(tmp_path):
    """``env.kwargs.dtype: float64`` (a YAML config cannot write torch.float64) integrates the physics in float64."""
    from metarl_gym.evolution.evaluate import build_env

    config = resolve_evolve_config({"env": {"kwargs": {"dtype": "float64"}}})
    env = build_env(config, 2)
    assert env.unwrapped.dtype == torch.float64 and env.unwrapped.state.dtype == torch.float64
    with pytest.raises(ConfigError, match="config key 'env.kwargs.dtype'.*float32"):
        resolve_evolve_config({"env": {"kwargs": {"dtype": "int32"}}})
