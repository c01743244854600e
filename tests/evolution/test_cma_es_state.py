"""CMA-ES state as tensors and plain values (issue 19 item 3): weights_only loading, exact resume at every size.

cma 4.x keeps its archive as a ``_CMASolutionDict_empty`` from 33 candidates on; the state used to be a pickle of
the cma object, read through an allow-list that did not name that class, so no CMA-ES run with pop >= 33 could
checkpoint. The state is now the cma object's numbers, written back into a new cma instance on load.
"""

import io
import math
import os
import pickle
import subprocess
import sys

import cma
import numpy as np
import pytest
import torch
import yaml

from metarl_gym.cli import main
from metarl_gym.errors import UserError
from metarl_gym.evolution import CMAES


def objective(x):
    return -((x - 0.5) ** 2).sum(dim=1) - 0.1 * torch.cos(5 * x).sum(dim=1)


def saved_and_loaded(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def assert_same(a, b, path="state"):
    """Deep equality of two state dicts (tensors bit for bit, NaN equal to NaN)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, path
        assert torch.equal(torch.nan_to_num(a, nan=7.0), torch.nan_to_num(b, nan=7.0)), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (path, set(a) ^ set(b))
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), path
    else:
        assert type(a) is type(b) and a == b, (path, a, b)


def plain_leaves(value, path="state"):
    """Yield (path, type) of every leaf that is not a tensor or a plain value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from plain_leaves(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from plain_leaves(item, f"{path}[{i}]")
    elif not isinstance(value, (torch.Tensor, type(None), bool, int, float, str)):
        yield path, type(value).__name__


def run(strategy, generations):
    for _ in range(generations):
        params = strategy.ask()
        strategy.tell(params, objective(params))


SIZES = [(6, 2), (6, 33), (10, 64), (8, 500)]  # (D, pop): pop 2 mirrors its samples, 33+ the "empty" archive


@pytest.mark.parametrize("diagonal", [False, True], ids=["full", "diagonal"])
@pytest.mark.parametrize("dim, pop", SIZES, ids=[f"pop{p}" for _, p in SIZES])
@pytest.mark.parametrize("done", [0, 2])
def test_resume_is_bit_exact(dim, pop, diagonal, done):
    reference = CMAES(dim, pop_size=pop, seed=0, sigma0=0.5, diagonal=diagonal)
    run(reference, done)
    state = reference.state_dict()
    assert list(plain_leaves(state)) == []  # no pickled object, no bytes, no numpy object: tensors and plain values
    resumed = CMAES(dim, pop_size=pop, seed=123, sigma0=0.5, diagonal=diagonal)  # seed and mean come from the state
    resumed.load_state_dict(saved_and_loaded(state))  # torch.load(weights_only=True)
    for _ in range(3):
        a, b = reference.ask(), resumed.ask()
        assert torch.equal(a, b)
        assert reference.tell(a, objective(a)) == resumed.tell(b, objective(b))
    assert torch.equal(reference.center, resumed.center) and reference.sigma == resumed.sigma
    assert_same(reference.state_dict(), resumed.state_dict())  # nothing of cma's state left behind


@pytest.mark.parametrize("pop", [4, 33])
def test_resume_between_ask_and_tell(pop):
    reference = CMAES(5, pop_size=pop, seed=1, sigma0=0.3)
    run(reference, 2)
    params = reference.ask()
    resumed = CMAES(5, pop_size=pop, seed=1, sigma0=0.3)
    resumed.load_state_dict(saved_and_loaded(reference.state_dict()))
    assert reference.tell(params, objective(params)) == resumed.tell(params, objective(params))
    assert torch.equal(reference.ask(), resumed.ask())


OPTIONS = {
    "elitist": {"CMA_elitist": True},
    "tpa": {"AdaptSigma": cma.sigma_adaptation.CMAAdaptSigmaTPA},
    "bounds": {"bounds": [-0.3, 0.3]},
    "bound-penalty": {"BoundaryHandler": cma.boundary_handler.BoundPenalty, "bounds": [-0.3, 0.3]},
    "no-mirrors": {"CMA_mirrors": 0},
}


@pytest.mark.parametrize("between", [False, True], ids=["after-tell", "between-ask-and-tell"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_resume_is_bit_exact_with_cma_options(name, between):
    """Options that bring state of their own (elitist best, TPA, boundary penalty weights, mirrors)."""
    def make(seed):
        return CMAES(5, pop_size=5 if name == "no-mirrors" else 10, seed=seed, sigma0=0.5, init_std=0.0,
                     cma_options=dict(OPTIONS[name]))

    reference = make(0)
    run(reference, 2)
    pending = reference.ask() if between else None
    resumed = make(1)
    resumed.load_state_dict(saved_and_loaded(reference.state_dict()))
    if between:
        assert reference.tell(pending, objective(pending)) == resumed.tell(pending, objective(pending))
    for _ in range(3):
        a, b = reference.ask(), resumed.ask()
        assert torch.equal(a, b)
        assert reference.tell(a, objective(a)) == resumed.tell(b, objective(b))
    assert_same(reference.state_dict(), resumed.state_dict())


def test_state_holds_the_named_numbers():
    es = CMAES(4, pop_size=40, seed=0, sigma0=0.4)
    run(es, 2)
    state = es.state_dict()["strategy_state"]
    tree = state["cma"]
    assert torch.equal(tree["mean"].float(), es.center)
    assert tree["mean"].dtype == torch.float64
    assert float(tree["sigma"]["v"]) == es.sigma
    assert tree["sm"]["v"]["C"].shape == (4, 4)  # the covariance matrix
    assert tree["pc"].shape == (4,) and tree["adapt_sigma"]["v"]["ps"].shape == (4,)  # the evolution paths
    assert tree["countiter"] == 2
    assert state["randn"]["bit_generator"] == "PCG64" and isinstance(state["randn"]["state"]["state"], int)


def test_a_legacy_pickled_state_is_refused_not_unpickled(tmp_path):
    marker = tmp_path / "marker"

    class Evil:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('pwned')",))

    es = CMAES(3, pop_size=8, seed=0)
    state = es.state_dict()
    state["strategy_state"] = {"cma_es": pickle.dumps(Evil()), "pending": None}
    with pytest.raises(UserError, match="older metarl_gym"):
        CMAES(3, pop_size=8, seed=0).load_state_dict(saved_and_loaded(state))
    assert not marker.exists()


def test_a_state_of_another_shape_is_refused():
    full = CMAES(3, pop_size=8, seed=0).state_dict()
    diagonal = CMAES(3, pop_size=8, seed=0, diagonal=True)
    with pytest.raises(UserError, match="does not fit"):
        diagonal.load_state_dict(full)  # a full-covariance sampler into a diagonal run


@pytest.mark.parametrize("entry", ["mean", "sigma", "sm.C", "pc"])
def test_a_nonfinite_stored_state_is_refused(entry):
    es = CMAES(3, pop_size=8, seed=0)
    run(es, 1)
    state = es.state_dict()
    node = state["strategy_state"]["cma"]
    *parents, last = entry.split(".")
    for part in parents:
        node = node[part]["v"]
    if isinstance(node[last], dict):  # a numpy scalar
        node[last]["v"] = torch.tensor(float("nan"), dtype=torch.float64)
    else:
        node[last] = node[last].clone()
        node[last].view(-1)[0] = float("nan")
    with pytest.raises(UserError, match=rf"NaN / inf in .*cma\.{entry}"):
        CMAES(3, pop_size=8, seed=0).load_state_dict(state)


def _cli_config(tmp_path, pop, generations):
    config = {
        "env": {"id": "MetaRL/CartPole-v1", "kwargs": {"max_episode_steps": 20}},
        "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [4]}},
        "strategy": {"name": "cma_es", "pop_size": pop, "kwargs": {"sigma0": 0.5}},
        "generations": generations, "episodes": 1, "seed": 3, "checkpoint_every": 1,
    }
    path = tmp_path / f"cma{pop}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _rows(run_dir):
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    wall = header.index("wall_s")
    return [[v for i, v in enumerate(line.split(",")) if i != wall] for line in lines[1:]]


@pytest.mark.parametrize("pop, new_process", [(33, False), (64, True)])
def test_evolve_stop_and_resume_equals_the_straight_run(tmp_path, pop, new_process):
    config = _cli_config(tmp_path, pop, 4)
    assert main(["evolve", str(config), "--run-dir", str(tmp_path / "straight"), "--no-progress"]) == 0
    assert main(["evolve", str(config), "--run-dir", str(tmp_path / "split"), "generations=2", "--no-progress"]) == 0
    command = ["evolve", "--resume", str(tmp_path / "split"), "generations=4", "--no-progress"]
    if new_process:  # another interpreter: other hash salts, nothing cached
        result = subprocess.run([sys.executable, "-m", "metarl_gym.cli", *command], capture_output=True, text=True,
                                timeout=300, env={**os.environ, "PYTHONHASHSEED": "12345"})
        assert result.returncode == 0, result.stderr
    else:
        assert main(command) == 0
    assert _rows(tmp_path / "split") == _rows(tmp_path / "straight") and len(_rows(tmp_path / "straight")) == 4
    a, b = (torch.load(tmp_path / d / "best.pt", weights_only=True) for d in ("straight", "split"))
    assert torch.equal(a["params"], b["params"])


def test_the_shipped_cma_es_config_runs_and_resumes(tmp_path):
    """examples/configs/cma_es_pendulum.yaml (pop 64) died after generation 0; here with tiny overrides."""
    run_dir = str(tmp_path / "run")
    tiny = ["episodes=2", "env.kwargs.max_episode_steps=40", "--no-progress"]
    assert main(["evolve", "examples/configs/cma_es_pendulum.yaml", "--run-dir", run_dir, "generations=2", *tiny]) == 0
    assert main(["evolve", "--resume", run_dir, "generations=3", "--no-progress"]) == 0
    assert len(_rows(tmp_path / "run")) == 3




@pytest.mark.parametrize("rekey", [True, False], ids=["rekeyed", "without-rekey"])
def test_resume_between_ask_and_tell_in_another_process(monkeypatch, rekey):
    """cma keys its archives by salted bytes hashes; a new process must re-key them (with bounds, a missed archive
    lookup rebuilds the genotype from the phenotype, not bit for bit)."""
    from cma.utilities.utils import SolutionDict

    from metarl_gym.evolution import cma_es

    def make():
        return CMAES(5, pop_size=10, seed=0, sigma0=0.5, init_std=0.0, cma_options={"bounds": [-0.3, 0.3]})

    reference = make()
    run(reference, 2)
    pending = reference.ask()
    state = saved_and_loaded(reference.state_dict())
    reference.tell(pending, objective(pending))
    expected = reference.ask()
    # "another process": bytes hashes salted differently (PYTHONHASHSEED)
    key = SolutionDict.key
    monkeypatch.setattr(SolutionDict, "key", lambda self, x: key(self, x) + (1 if isinstance(x, np.ndarray) else 0))
    if not rekey:
        monkeypatch.setattr(cma_es, "_rekey_archives", lambda es: None)
    resumed = make()
    resumed.load_state_dict(state)
    resumed.tell(pending, objective(pending))
    assert torch.equal(resumed.ask(), expected) == rekey  # the re-keying is what makes it exact
