"""Tests of the ask/tell strategies (GA, OpenAI-ES, CMA-ES) and the fitness-shaping functions."""

import io
import math

import numpy as np
import pytest
import torch

from metarl_gym.evolution import CMAES, GA, STRATEGIES, OpenAIES
from metarl_gym.evolution import fitness_shaping as fs

# per-strategy settings that make a 10-D problem converge in a few dozen small generations
FAST_KWARGS = {
    "ga": {"mutation_std": 0.1},
    "openai_es": {"lr": 0.1, "sigma": 0.1},
    "cma_es": {"sigma0": 0.3},
}
NAMES = sorted(STRATEGIES)


def make(name, num_params=10, pop_size=16, seed=0, **kwargs):
    return STRATEGIES[name](num_params=num_params, pop_size=pop_size, seed=seed, device="cpu",
                            **{**FAST_KWARGS[name], **kwargs})


def sphere(x):
    return -(x**2).sum(dim=1)


def rastrigin(x):
    return -(10 * x.shape[1] + (x**2 - 10 * torch.cos(2 * math.pi * x)).sum(dim=1))


def run(strategy, objective, generations):
    history = []
    for _ in range(generations):
        params = strategy.ask()
        history.append(strategy.tell(params, objective(params)))
    return history


# ---------------------------------------------------------------------------------------------- all strategies
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("objective, factor", [(sphere, 0.1), (rastrigin, 0.5)], ids=["sphere", "rastrigin"])
def test_improves(name, objective, factor):
    history = run(make(name, pop_size=32), objective, 60)
    first, last = -history[0]["best"], -history[-1]["best"]
    assert last < factor * first, (name, first, last)


@pytest.mark.parametrize("name", NAMES)
def test_ask_shape_dtype_and_metrics(name):
    strategy = make(name)
    params = strategy.ask()
    assert params.shape == (16, 10) and params.dtype == torch.float32 and params.device.type == "cpu"
    fitness = sphere(params)
    metrics = strategy.tell(params, fitness.numpy())  # numpy fitness accepted
    for key in ("best", "mean", "median", "worst", "generation", "best_ever"):
        assert isinstance(metrics[key], float)
    assert metrics["best"] == pytest.approx(float(fitness.max()))
    assert metrics["worst"] == pytest.approx(float(fitness.min()))
    assert metrics["median"] == pytest.approx(float(np.median(fitness.numpy())), rel=1e-5)
    assert strategy.generation == 1
    assert torch.equal(strategy.best_params, params[fitness.argmax()])
    center = strategy.center
    assert (center is None) == (name == "ga")
    if center is not None:
        assert center.shape == (10,) and center.dtype == torch.float32


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_run_different_seed_differs(name):
    a, b, c = make(name, seed=7), make(name, seed=7), make(name, seed=8)
    for _ in range(3):
        pa, pb, pc = a.ask(), b.ask(), c.ask()
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)
        a.tell(pa, rastrigin(pa)), b.tell(pb, rastrigin(pb)), c.tell(pc, rastrigin(pc))


RESUME_KWARGS = {
    "ga": [{}, {"selection": "tournament", "crossover": "blx_alpha", "big_mutation_prob": 0.5,
                "replace_parents_if_better": True, "elitism": 0}],
    "openai_es": [{}, {"preset": "hebbian_seed"}],
    "cma_es": [{}, {"diagonal": True}],
}


@pytest.mark.parametrize("name, kwargs", [(n, kw) for n in NAMES for kw in RESUME_KWARGS[n]])
def test_exact_resume(name, kwargs):
    reference = make(name, **kwargs)
    run(reference, rastrigin, 3)
    buffer = io.BytesIO()
    torch.save(reference.state_dict(), buffer)
    buffer.seek(0)
    resumed = make(name, seed=123, **kwargs)  # the seed is restored from the state
    resumed.load_state_dict(torch.load(buffer))  # weights_only loading is enough
    assert resumed.generation == reference.generation == 3
    for _ in range(3):
        p_ref, p_res = reference.ask(), resumed.ask()
        assert torch.equal(p_ref, p_res)
        m_ref, m_res = reference.tell(p_ref, rastrigin(p_ref)), resumed.tell(p_res, rastrigin(p_res))
        assert m_ref == pytest.approx(m_res, nan_ok=True)
    if reference.center is not None:
        assert torch.equal(reference.center, resumed.center)
    assert torch.equal(reference.ask(), resumed.ask())


@pytest.mark.parametrize("name", NAMES)
def test_resume_between_ask_and_tell(name):
    reference = make(name)
    run(reference, sphere, 2)
    params = reference.ask()
    resumed = make(name)
    resumed.load_state_dict(reference.state_dict())
    reference.tell(params, sphere(params)), resumed.tell(params, sphere(params))
    assert torch.equal(reference.ask(), resumed.ask())


@pytest.mark.parametrize("name", NAMES)
def test_load_state_dict_of_other_strategy_fails(name):
    other = "ga" if name != "ga" else "openai_es"
    with pytest.raises(ValueError, match="strategy"):
        make(name).load_state_dict(make(other).state_dict())
    with pytest.raises(ValueError, match="num_params"):
        make(name).load_state_dict(make(name, num_params=11).state_dict())


@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_fitness_is_never_best(name):
    strategy = make(name)
    for _ in range(3):
        params = strategy.ask()
        fitness = sphere(params)
        fitness[:3] = torch.tensor([float("nan"), float("inf"), float("-inf")])
        metrics = strategy.tell(params, fitness)
        assert metrics["best"] == pytest.approx(float(fitness[3:].max()))
        assert metrics["num_nonfinite"] == 3
        assert math.isfinite(metrics["best_ever"])
        assert not any(torch.equal(strategy.best_params, row) for row in params[:3])
    params = strategy.ask()
    metrics = strategy.tell(params, torch.full((16,), float("nan")))
    assert math.isnan(metrics["best"]) and math.isnan(metrics["mean"])
    assert strategy.ask().isfinite().all()


@pytest.mark.parametrize("name", ["openai_es", "cma_es"])
def test_nonfinite_fitness_ranks_last(name):
    """For the distribution-based strategies a non-finite fitness acts exactly like the worst value."""
    a, b = make(name), make(name)
    params = a.ask()
    assert torch.equal(params, b.ask())
    fitness = sphere(params)
    worse = fitness.clone()
    worse[:4] = fitness.min() - torch.arange(1.0, 5.0)
    fitness[:4] = torch.tensor([float("nan"), float("inf"), float("-inf"), float("nan")])
    a.tell(params, fitness), b.tell(params, worse)
    assert torch.allclose(a.center, b.center)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_shapes_raise(name):
    strategy = make(name)
    params = strategy.ask()
    with pytest.raises(ValueError, match=r"\[16, 10\]"):
        strategy.tell(params[:, :9], torch.zeros(16))
    with pytest.raises(ValueError, match=r"\[16, 10\]"):
        strategy.tell(params[:15], torch.zeros(15))
    with pytest.raises(ValueError, match=r"\[16\]"):
        strategy.tell(params, torch.zeros(16, 1))
    with pytest.raises(ValueError, match=r"\[16\]"):
        strategy.tell(params, np.zeros(15))
    assert strategy.generation == 0


BAD_KWARGS = {
    "ga": [{"selection": "best"}, {"crossover": "two_point"}, {"mutation_prob": 1.5}, {"crossover_prob": -0.1},
           {"mutation_std": -1.0}, {"elitism": 16}, {"elitism": "all"}, {"num_survivors": 0},
           {"truncation": 0.0}, {"tournament_size": 0}, {"selection": "roulette", "elitism": "survivors"}],
    "openai_es": [{"sigma": 0.0}, {"lr": -1.0}, {"optimizer": "rmsprop"}, {"fitness_shaping": "ranks"},
                  {"preset": "nope"}, {"lr_decay": 1.5}, {"sigma_decay": 0.0}],
    "cma_es": [{"sigma0": -1.0}, {"cma_options": {"popsize": 4}}, {"cma_options": {"not_an_option": 1}}],
}


@pytest.mark.parametrize("name", NAMES)
def test_bad_kwargs_raise(name):
    with pytest.raises((TypeError, ValueError), match="not_a_kwarg"):
        make(name, not_a_kwarg=1)
    for bad in ({"pop_size": 1}, {"init_std": -1.0}, {"num_params": 0}):
        with pytest.raises(ValueError):
            make(name, **bad)
    for bad in BAD_KWARGS[name]:
        with pytest.raises(ValueError):
            make(name, **bad)


def test_bad_choice_error_names_allowed_values():
    with pytest.raises(ValueError, match="tournament"):
        GA(4, pop_size=8, selection="best")
    with pytest.raises(ValueError, match="blx_alpha"):
        GA(4, pop_size=8, crossover="two_point")


@pytest.mark.parametrize("name", NAMES)
def test_init_params_sets_the_start(name):
    start = torch.arange(10.0)
    strategy = make(name, init_params=start)
    if strategy.center is not None:
        assert torch.equal(strategy.center, start)
    else:
        assert torch.equal(strategy.ask()[0], start)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cuda(name):
    strategy = STRATEGIES[name](num_params=10, pop_size=16, seed=0, device="cuda", **FAST_KWARGS[name])
    for _ in range(3):
        params = strategy.ask()
        assert params.device.type == "cuda"
        strategy.tell(params, sphere(params))


# ---------------------------------------------------------------------------------------------- GA
def test_ga_initial_population_independent():
    population = GA(50, pop_size=64, seed=0, init_std=0.1).ask()
    assert len(torch.unique(population, dim=0)) == 64
    assert population.std().item() == pytest.approx(0.1, rel=0.05)


def test_ga_elitism_keeps_elites_unmutated():
    ga = GA(10, pop_size=16, seed=0, elitism=3, mutation_prob=1.0, mutation_std=1.0)
    params = ga.ask()
    fitness = sphere(params)
    ga.tell(params, fitness)
    top3 = params[fitness.argsort(descending=True)[:3]]
    nxt = ga.ask()
    assert torch.equal(nxt[:3], top3)
    for row in nxt[3:]:  # every child is mutated
        assert not any(torch.equal(row, p) for p in params)


def test_ga_metarl_config():
    """The MetaRL GA, scaled down: truncation to the survivors, all kept unmutated, sparse mutation."""
    dim, pop, survivors = 520, 200, 20
    ga = GA(dim, pop_size=pop, seed=0, selection="truncation", num_survivors=survivors, elitism="survivors",
            crossover="none", mutation_prob=0.001, mutation_std=0.1, init_std=0.1)
    assert ga.num_elites == survivors
    params = ga.ask()
    fitness = sphere(params)
    ga.tell(params, fitness)
    kept = params[fitness.argsort(descending=True)[:survivors]]
    nxt = ga.ask()
    assert torch.equal(nxt[:survivors], kept)
    # each child is a survivor with a few genes changed (P = 0.001 per gene)
    diffs = (nxt[survivors:, None, :] != kept[None]).sum(dim=2).min(dim=1).values
    rate = diffs.sum().item() / ((pop - survivors) * dim)
    assert 0.0003 < rate < 0.003
    assert (diffs < 10).all()


def test_ga_replace_parents_if_better():
    """Two rounds per generation: the population scored afresh, then its children against those scores."""
    ga = GA(4, pop_size=8, seed=0, crossover="one_point", mutation_std=0.5, replace_parents_if_better=True)
    assert ga.num_elites == 0  # the default elitism is 0 with the pairwise replacement
    parents = ga.ask()
    parent_fitness = torch.arange(8.0)
    metrics = ga.tell(parents, parent_fitness)
    assert metrics["phase"] == 0 and math.isnan(metrics["children_kept"])
    children = ga.ask()
    assert not torch.equal(children, parents)
    index = ga.parent_index.clone()
    # pair 0 beats its parents, pair 1 is worse, pair 2 ties (not higher: parents stay), pair 3 NaN
    fitness = torch.empty(8)
    fitness[0:2] = parent_fitness[index[0:2]].sum() / 2 + 1
    fitness[2:4] = torch.tensor([parent_fitness[index[2:4]].sum() - 100.0, 99.0])
    fitness[4:6] = parent_fitness[index[4:6]]
    fitness[6:8] = float("nan")
    metrics = ga.tell(children, fitness)
    assert metrics["phase"] == 1 and metrics["children_kept"] == pytest.approx(0.25)
    population = ga.ask()  # the next generation's first round: the new population, to be scored afresh
    assert torch.equal(population[0:2], children[0:2])
    assert torch.equal(population[2:8], parents[index[2:8]])
    assert ga.parents is None and ga.children is None  # no score is carried into the next generation


@pytest.mark.parametrize("selection", ["truncation", "roulette", "tournament"])
@pytest.mark.parametrize("crossover", ["none", "one_point", "uniform", "blx_alpha"])
def test_ga_variants_run_and_skip_nonfinite(selection, crossover):
    # no mutation: every new individual is made of genes of the selected parents only
    ga = GA(6, pop_size=10, seed=0, selection=selection, crossover=crossover, blx_alpha=0.0,
            mutation_prob=0.0, elitism=1)
    params = ga.ask()
    fitness = sphere(params)
    fitness[[2, 5]] = torch.tensor([float("nan"), float("inf")])
    ga.tell(params, fitness)
    nxt = ga.ask()
    good = params[[i for i in range(10) if i not in (2, 5)]]
    if crossover == "blx_alpha":  # alpha = 0: children inside the parents' box
        assert (nxt >= good.min(0).values).all() and (nxt <= good.max(0).values).all()
    else:  # each gene comes from a finite individual at the same position
        assert ((nxt[:, None, :] == good[None]).any(dim=1)).all()
    for _ in range(3):
        p = ga.ask()
        ga.tell(p, rastrigin(p))


def test_ga_one_point_crossover_swaps_tails():
    ga = GA(8, pop_size=4, seed=0, crossover="one_point", crossover_prob=1.0)
    p1, p2 = torch.zeros(50, 8), torch.ones(50, 8)
    c1, c2 = ga._cross(p1, p2)
    assert torch.equal(c1 + c2, torch.ones(50, 8))
    assert (c1.diff(dim=1) >= 0).all()  # zeros, then ones: a single cut


def test_ga_big_mutation_changes_one_gene():
    start = torch.linspace(-1, 1, 20)
    ga = GA(20, pop_size=30, seed=0, init_params=start, init_std=0.0, mutation_prob=0.0,
            big_mutation_prob=1.0, big_mutation_scale=10, elitism=0)
    params = ga.ask()
    ga.tell(params, torch.zeros(30))
    changed = (ga.ask() != start).sum(dim=1)
    assert (changed <= 1).all() and changed.sum() >= 25


def test_ga_roulette_ignores_nonfinite_and_shifts_negative_fitness():
    ga = GA(3, pop_size=20, seed=0, selection="roulette", elitism=0)
    fitness = torch.full((20,), -1000.0)
    fitness[4] = -1.0  # all negative: the shift makes row 4 by far the most likely
    fitness[7] = float("nan")
    index = ga._select(fitness, fitness.argsort(descending=True), 2000)
    counts = torch.bincount(index, minlength=20)
    assert counts[7] == 0 and counts[4] > 1900


# ---------------------------------------------------------------------------------------------- OpenAI-ES
def test_openai_es_antithetic_pairs_are_mirrored():
    es = OpenAIES(10, pop_size=16, seed=0)
    params = es.ask()
    assert torch.allclose(params[0::2] + params[1::2], 2 * es.center.expand(8, 10), atol=1e-6)
    with pytest.raises(ValueError, match="even"):
        OpenAIES(10, pop_size=15)
    OpenAIES(10, pop_size=15, antithetic=False).ask()


def test_openai_es_lr_and_sigma_decay_to_their_floors():
    es = OpenAIES(4, pop_size=8, seed=0, lr=0.1, lr_decay=0.5, lr_min=0.01, sigma=0.1, sigma_decay=0.5,
                  sigma_min=0.02)
    metrics = run(es, sphere, 1)[0]
    assert metrics["lr"] == 0.1 and metrics["sigma"] == 0.1  # the values used by this generation
    assert es.lr == pytest.approx(0.05) and es.sigma == pytest.approx(0.05)
    run(es, sphere, 10)
    assert es.lr == 0.01 and es.sigma == 0.02


def test_openai_es_hebbian_preset():
    es = OpenAIES.hebbian_seed(10, pop_size=20, seed=0)
    assert (es.optimizer, es.lr, es.lr_decay, es.lr_min) == ("sgd", 0.2, 0.995, 0.001)
    assert (es.sigma, es.sigma_decay, es.sigma_min, es.l2_coeff) == (0.1, 0.999, 0.01, 0.01)
    assert es.fitness_shaping == "centered_ranks_standardize" and es.antithetic
    assert OpenAIES(10, pop_size=20, preset="hebbian_seed", lr=0.5).lr == 0.5  # explicit beats preset
    assert es.center.std().item() == pytest.approx(1.0, abs=0.5)  # init N(0, 1)


@pytest.mark.parametrize("kwargs", [{}, {"preset": "hebbian_seed", "l2_coeff": 0.0},
                                    {"fitness_shaping": "standardize", "optimizer": "sgd"}])
def test_openai_es_equal_fitness_gives_zero_update(kwargs):
    es = OpenAIES(10, pop_size=16, seed=0, **kwargs)
    center = es.center
    params = es.ask()
    metrics = es.tell(params, torch.full((16,), 3.0))
    assert torch.equal(es.center, center) and metrics["grad_norm"] == 0


def test_openai_es_sgd_update_matches_formula():
    es = OpenAIES(5, pop_size=6, seed=0, optimizer="sgd", lr=0.3, sigma=0.2, fitness_shaping="none",
                  antithetic=False, l2_coeff=0.1)
    center = es.center
    params = es.ask()
    fitness = sphere(params)
    es.tell(params, fitness)
    penalised = fitness - 0.1 * (params**2).mean(dim=1)
    eps = (params - center) / 0.2
    expected = center + 0.3 / (6 * 0.2) * (penalised[:, None] * eps).sum(dim=0)
    assert torch.allclose(es.center, expected, atol=1e-5)


# ---------------------------------------------------------------------------------------------- CMA-ES
def test_cma_es_leaves_numpy_global_rng_alone():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    run(CMAES(5, pop_size=8, seed=0), sphere, 3)
    assert np.array_equal(np.random.get_state()[1], before)


def test_cma_es_diagonal_and_options():
    es = CMAES(30, pop_size=12, seed=0, diagonal=True, sigma0=0.3, cma_options={"CMA_elitist": False})
    assert es.es.opts["CMA_diagonal"] is True and es.es.popsize == 12
    history = run(es, sphere, 30)
    assert history[-1]["best"] > 0.5 * history[0]["best"]
    assert 0 < history[-1]["sigma"]


# ---------------------------------------------------------------------------------------------- shaping
def test_centered_ranks():
    f = torch.tensor([3.0, float("nan"), 1.0, 2.0, 2.0])
    r = fs.centered_ranks(f)
    assert r.tolist() == pytest.approx([0.5, -0.5, -0.25, 0.125, 0.125])
    assert fs.centered_ranks(torch.full((4,), 7.0)).abs().max() == 0  # ties share their average rank


def test_standardize_and_l2():
    x = fs.standardize(torch.tensor([1.0, 2.0, 3.0]))
    assert x.mean().abs() < 1e-6 and x.std(correction=0).item() == pytest.approx(1.0)
    assert torch.equal(fs.standardize(torch.full((5,), 2.0)), torch.zeros(5))  # std 0 does not crash
    f = fs.l2_penalty(torch.tensor([1.0, 1.0]), torch.tensor([[1.0, 3.0], [0.0, 0.0]]), 0.1)
    assert f.tolist() == pytest.approx([0.5, 1.0])
    assert fs.replace_nonfinite(torch.tensor([1.0, float("nan"), -2.0])).tolist() == [1.0, -2.0, -2.0]
    with pytest.raises(ValueError, match="centered_ranks"):
        fs.shape_fitness(torch.zeros(3), "bogus")
