"""Numerics of the strategies (issue 19 item 5): non-finite genomes, best-so-far, overflow at construction, states.

``strategy.tell()`` with a NaN genome given a finite fitness used to poison the GA's best and the ES mean, and
CMA-ES died (RecursionError / AssertionError inside cma); ``init_std=1e300`` gave an all-inf population.
"""

import math

import pytest
import torch

from metarl_gym.cli import main
from metarl_gym.errors import UserError
from metarl_gym.evolution import CMAES, GA, STRATEGIES, OpenAIES
from metarl_gym.evolution import fitness_shaping as fs

KWARGS = {"ga": {"mutation_std": 0.1}, "openai_es": {"lr": 0.1, "sigma": 0.1}, "cma_es": {"sigma0": 0.3}}
NAMES = sorted(STRATEGIES)


def make(name, **kwargs):
    return STRATEGIES[name](num_params=6, pop_size=12, seed=0, **{**KWARGS[name], **kwargs})


def sphere(x):
    return -(x**2).sum(dim=1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", NAMES)
def test_a_nonfinite_genome_is_minus_inf_whatever_its_fitness(name, bad):
    strategy = make(name)
    for _ in range(3):
        params = strategy.ask().clone()
        params[0, 2] = bad  # one bad gene ...
        params[1] = bad  # ... and a whole bad row
        fitness = sphere(torch.nan_to_num(params))
        fitness[:2] = 1e6  # far better than anything real
        metrics = strategy.tell(params, fitness)
        assert metrics["num_nonfinite"] == 2
        assert metrics["best"] == pytest.approx(float(fitness[2:].max()))
        assert math.isfinite(strategy.best_fitness) and strategy.best_fitness < 1e6
        assert torch.isfinite(strategy.best_params).all()
        if strategy.center is not None:  # the ES / CMA-ES mean is not poisoned
            assert torch.isfinite(strategy.center).all()
        assert torch.isfinite(strategy.ask()).all()  # neither are the next candidates (GA elites included)
    assert strategy.state_dict()["best_fitness"] < 1e6


def test_cma_es_tells_a_bad_row_as_it_was_asked():
    """The row the caller spoiled ranks last, as the candidate cma sampled: the same update as a -inf fitness."""
    a, b = CMAES(5, pop_size=8, seed=0), CMAES(5, pop_size=8, seed=0)
    params = a.ask()
    assert torch.equal(params, b.ask())
    fitness = sphere(params)
    spoiled = params.clone()
    spoiled[3] = float("nan")
    a.tell(spoiled, fitness)
    worse = fitness.clone()
    worse[3] = float("-inf")
    b.tell(params, worse)
    assert torch.equal(a.center, b.center) and a.sigma == b.sigma
    assert torch.equal(a.ask(), b.ask())


def test_cma_es_with_only_bad_rows_and_no_pending_sample():
    es = CMAES(4, pop_size=6, seed=0)
    es.ask()
    es._pending = None  # candidates that were not asked
    es.tell(torch.full((6, 4), float("nan")), torch.zeros(6))
    assert torch.isfinite(es.center).all() and torch.isfinite(es.ask()).all()


def test_openai_es_bad_row_adds_nothing_to_the_gradient():
    a = OpenAIES(5, pop_size=8, seed=0, optimizer="sgd", fitness_shaping="none", antithetic=False, lr=0.1)
    b = OpenAIES(5, pop_size=8, seed=0, optimizer="sgd", fitness_shaping="none", antithetic=False, lr=0.1)
    params = a.ask()
    b.ask()
    fitness = sphere(params)
    spoiled = params.clone()
    spoiled[2, 0] = float("nan")
    a.tell(spoiled, fitness)
    # the reference: row 2 at the centre (zero noise) with the worst fitness, as replace_nonfinite maps -inf
    reference = params.clone()
    reference[2] = b.center
    worse = fitness.clone()
    worse[2] = torch.cat([fitness[:2], fitness[3:]]).min()
    b.tell(reference, worse)
    assert torch.allclose(a.center, b.center, atol=1e-6) and torch.isfinite(a.center).all()


@pytest.mark.parametrize("name", NAMES)
def test_best_fitness_is_minus_inf_until_a_finite_one_then_finite(name):
    strategy = make(name)
    assert strategy.best_fitness == -math.inf and strategy.best_params is None
    params = strategy.ask()
    strategy.tell(params, torch.full((12,), float("nan")))
    assert strategy.best_fitness == -math.inf and strategy.best_params is None
    state = strategy.state_dict()  # -inf with no best is a valid state
    make(name).load_state_dict(state)
    params = strategy.ask()
    strategy.tell(params, sphere(params))
    assert math.isfinite(strategy.best_fitness) and strategy.best_params is not None


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kwargs, named", [({"init_std": 1e300}, "init_std"), ({"init_std": 1e37}, "init_std"),
                                           ({"init_mean": 1e39}, "init_mean")])
def test_overflowing_initialisation_is_refused(name, kwargs, named):
    with pytest.raises(UserError, match=f"{named}="):
        make(name, **kwargs)


@pytest.mark.parametrize("name, kwargs", [("cma_es", {"sigma0": 1e300}), ("openai_es", {"sigma": 1e300}),
                                          ("ga", {"mutation_std": 1e300})])
def test_overflowing_step_sizes_are_refused(name, kwargs):
    (key,) = kwargs
    with pytest.raises(UserError, match=f"{key}=1e\\+300 is too large"):
        make(name, **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_large_but_representable_values_still_work(name):
    strategy = make(name, init_std=1e30)
    assert torch.isfinite(strategy.ask()).all()


@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_init_params_are_refused(name):
    start = torch.zeros(6)
    start[1] = float("inf")
    with pytest.raises(UserError, match="init_params holds NaN or inf"):
        make(name, init_params=start)


@pytest.mark.parametrize("name, attr", [("ga", "population"), ("openai_es", "_center")])
def test_a_nan_in_a_stored_state_is_refused_on_load(name, attr):
    strategy = make(name)
    params = strategy.ask()
    strategy.tell(params, sphere(params))
    state = strategy.state_dict()
    state["strategy_state"][attr] = state["strategy_state"][attr].clone()
    state["strategy_state"][attr][0] = float("nan")
    with pytest.raises(UserError, match=f"NaN / inf in \\['{attr}'\\].*refusing to resume"):
        make(name).load_state_dict(state)


def test_a_bad_best_in_a_stored_state_is_refused():
    strategy = make("ga")
    params = strategy.ask()
    strategy.tell(params, sphere(params))
    for key, value in (("best_fitness", float("nan")), ("best_fitness", float("inf")), ("best_params", torch.full((6,), float("nan")))):
        state = strategy.state_dict()
        state[key] = value
        with pytest.raises(UserError, match=key):
            make("ga").load_state_dict(state)


def test_a_diverged_state_is_not_saved():
    es = make("openai_es")
    es._center = es._center.clone()
    es._center[0] = float("inf")  # what a far too large learning rate does
    with pytest.raises(UserError, match=r"generation 0 holds NaN / inf in \['_center'\].*diverged"):
        es.state_dict()


def test_ga_parent_fitness_may_hold_minus_inf_between_rounds():
    ga = GA(4, pop_size=8, seed=0, crossover="one_point", replace_parents_if_better=True)
    params = ga.ask()
    fitness = sphere(params)
    fitness[0] = float("nan")
    ga.tell(params, fitness)
    assert ga.parent_fitness[0] == -math.inf
    resumed = GA(4, pop_size=8, seed=0, crossover="one_point", replace_parents_if_better=True)
    resumed.load_state_dict(ga.state_dict())
    assert torch.equal(resumed.ask(), ga.ask())


def test_cli_refuses_init_std_1e300_in_one_line(tmp_path, capsys):
    code = main(["evolve", "strategy.kwargs.init_std=1.0e+300", "generations=1", "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "init_std=1e+300 is too large" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r" / "best.pt").exists()


def test_standardize_does_not_overflow_near_float32_limits():
    shaped = fs.standardize(torch.tensor([3e38, 3e38, -3e38]))
    assert shaped.dtype == torch.float32 and torch.isfinite(shaped).all()
    assert shaped.tolist() == pytest.approx([2**-0.5, 2**-0.5, -(2**0.5)])


@pytest.mark.parametrize("shaping", ["standardize", "centered_ranks_standardize"])
def test_openai_es_with_huge_returns_keeps_a_finite_mean(shaping):
    es = OpenAIES(4, pop_size=6, seed=0, fitness_shaping=shaping)
    params = es.ask()
    es.tell(params, torch.tensor([3e38, 3e38, -3e38, 1.0, 2e38, -2e38]))
    assert torch.isfinite(es.center).all()
    es.state_dict()  # a finite state: saved without complaint
