"""Genetic algorithm over flat parameter vectors, vectorised over the whole population.

Covers the two GA outer loops of the seed systems:

* ASFaust/MetaRL (``ga/GA.py``): truncation selection of the top ``num_survivors``, sparse Gaussian mutation
  (each gene with probability ``mutation_prob`` gets ``N(0, mutation_std**2)``), no crossover. metarl_gym
  keeps *all* survivors unmutated (``elitism="survivors"``) where the seed, through a bug, kept only the
  top 4::

      GA(520, pop_size=10_000, selection="truncation", num_survivors=200, elitism="survivors",
         crossover="none", mutation_prob=0.001, mutation_std=0.1, init_std=0.1)

* robertjankowski/ga-openai-gym (``scripts/ga/individual.py``, ``population.py``): roulette / ranking
  selection, single-point or BLX-alpha crossover applied with probability ``crossover_prob``, the
  single-gene "big" mutation and the pairwise rule "children replace their parents if the sum of their
  fitness is greater"::

      GA(D, pop_size=50, selection="roulette", crossover="one_point", crossover_prob=0.9,
         mutation_prob=0.0, big_mutation_prob=0.4, replace_parents_if_better=True)

  Unlike the seed, parents are drawn uniformly from the top-k (truncation) rather than always the top two,
  roulette shifts fitness to be positive, and individuals start independently random.

One generation (``tell``): pick parents for ``pop_size - elites`` children in pairs, cross each pair over,
mutate the children, and put the elites (unmutated copies of the best individuals) in the first rows. ``ask``
returns that population.

With ``replace_parents_if_better`` a generation follows the seed's ``Population.run`` exactly and takes **two**
ask/tell rounds, each of ``pop_size`` rows (``pop_size`` is the seed's population size):

1. *population round* (``metrics["phase"] == 0``): ``ask`` returns the current population and every individual is
   scored afresh, as the seed re-scores its whole old population each generation; ``tell`` selects parent pairs
   on these fresh scores and breeds ``pop_size`` children;
2. *children round* (``phase == 1``): ``ask`` returns the children; ``tell`` keeps each child pair in its two
   slots only if its fitness sum beats its parents' (their scores of round 1, the ones they were selected on,
   as in the seed), else the parents take the slots. Nobody's score is carried to the next generation.

So a run of ``G`` tells makes ``G / 2`` seed generations with the seed's ``2 * pop_size`` evaluations each.
Carrying the parents' stored scores across generations instead (never re-scoring a kept parent) makes the
bar ratchet up under noisy fitness: kept parents are the lucky draws, and children stop being accepted.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .base import Strategy, check_choice, check_float32_scale, check_non_negative, check_probability

__all__ = ["GA", "SELECTIONS", "CROSSOVERS"]

SELECTIONS = ("truncation", "roulette", "tournament")
CROSSOVERS = ("none", "one_point", "uniform", "blx_alpha")

_ROULETTE_EPS = 1e-8  # keeps the worst finite individual selectable and an all-equal population uniform


class GA(Strategy):
    """Genetic algorithm (selection, crossover, mutation, elitism), all population-vectorised in torch.

    Args:
        num_params: genome length ``D``.
        pop_size: population size (``>= 2``).
        selection: ``"truncation"`` (parents uniform over the top ``num_survivors``), ``"roulette"``
            (probability proportional to ``f - min(f) + eps``) or ``"tournament"`` (best of
            ``tournament_size`` uniform draws).
        num_survivors: size of the truncation pool; overrides ``truncation``.
        truncation: truncation pool as a fraction of ``pop_size`` (in ``(0, 1]``), used when
            ``num_survivors`` is None.
        tournament_size: candidates per tournament (``>= 1``).
        crossover: ``"none"``, ``"one_point"`` (tails after a random cut swapped), ``"uniform"`` (each gene
            swapped with probability 1/2) or ``"blx_alpha"`` (each child gene ~ ``U[lo - a*r, hi + a*r]``).
        crossover_prob: probability that a parent pair is crossed over (else the children are copies).
        blx_alpha: the ``a`` of BLX-alpha (``>= 0``).
        mutation_prob: per-gene probability of a Gaussian mutation.
        mutation_std: std of the Gaussian mutation (``>= 0``).
        big_mutation_prob: per-child probability of the ga-openai-gym big mutation: one random gene is set
            to ``N(mean(genome), std(genome)) + randint(-big_mutation_scale, big_mutation_scale)``.
        big_mutation_scale: integer range of the big mutation's offset (``>= 0``; 10 in the seed).
        elitism: number of best individuals copied unmutated into the next population, or ``"survivors"``
            (= ``num_survivors``, truncation selection only). Must leave at least one child. Default (None):
            1, or 0 with ``replace_parents_if_better`` (which keeps no elites: an unbeaten parent pair keeps
            its slots anyway).
        replace_parents_if_better: the ga-openai-gym generation in two rounds (see the module docstring):
            score the population afresh, breed ``pop_size`` children in pairs, score them, and let a child
            pair replace its parent pair only if its fitness sum is greater (ties keep the parents; a pair
            with a non-finite child never wins). For an odd ``pop_size`` the last child is compared with its
            one parent.
        **kwargs: :class:`~metarl_gym.evolution.base.Strategy` arguments (``seed``, ``device``, ``init_mean``,
            ``init_std``, ``init_params``). The first population is ``N(init_mean, init_std**2)`` per gene,
            independently per individual; ``init_params [pop_size, D]`` is used as is, and
            ``init_params [D]`` becomes row 0 with the other rows ``init_params + N(0, init_std**2)``.
    """

    _state_attrs = ("population", "phase", "children", "parents", "parent_fitness", "parent_index")
    _fitness_attrs = ("parent_fitness",)

    def __init__(
        self,
        num_params: int,
        *,
        pop_size: int,
        selection: str = "truncation",
        num_survivors: int | None = None,
        truncation: float = 0.2,
        tournament_size: int = 3,
        crossover: str = "none",
        crossover_prob: float = 0.9,
        blx_alpha: float = 0.1,
        mutation_prob: float = 1.0,
        mutation_std: float = 0.1,
        big_mutation_prob: float = 0.0,
        big_mutation_scale: int = 10,
        elitism: int | str | None = None,
        replace_parents_if_better: bool = False,
        **kwargs: Any,
    ):
        super().__init__(num_params, pop_size=pop_size, **kwargs)
        check_choice("selection", selection, SELECTIONS)
        check_choice("crossover", crossover, CROSSOVERS)
        for name, p in (("crossover_prob", crossover_prob), ("mutation_prob", mutation_prob),
                        ("big_mutation_prob", big_mutation_prob)):
            check_probability(name, p)
        check_non_negative("mutation_std", mutation_std)
        check_float32_scale("mutation_std", mutation_std)
        check_non_negative("blx_alpha", blx_alpha)
        if not isinstance(big_mutation_scale, int) or big_mutation_scale < 0:
            raise ValueError(f"big_mutation_scale must be an int >= 0, got {big_mutation_scale!r}")
        if not isinstance(tournament_size, int) or tournament_size < 1:
            raise ValueError(f"tournament_size must be an int >= 1, got {tournament_size!r}")
        if num_survivors is None:
            if not (isinstance(truncation, (int, float)) and 0 < truncation <= 1):
                raise ValueError(f"truncation must be a fraction in (0, 1], got {truncation!r}")
            num_survivors = max(1, round(truncation * self.pop_size))
        if not isinstance(num_survivors, int) or not 1 <= num_survivors <= self.pop_size:
            raise ValueError(f"num_survivors must be an int in [1, pop_size={self.pop_size}], got {num_survivors!r}")
        if elitism is None:
            elitism = 0 if replace_parents_if_better else 1
        elif replace_parents_if_better and elitism != 0:
            raise ValueError(
                f"replace_parents_if_better keeps every parent pair its children do not beat, so it takes no "
                f"elites; got elitism={elitism!r}: set elitism=0 or leave it unset"
            )
        if elitism == "survivors":
            if selection != "truncation":
                raise ValueError('elitism="survivors" needs selection="truncation"; use an int elitism otherwise')
            elitism = num_survivors
        if isinstance(elitism, bool) or not isinstance(elitism, int) or not 0 <= elitism < self.pop_size:
            raise ValueError(
                f"elitism must be an int in [0, pop_size - 1 = {self.pop_size - 1}] or 'survivors', got {elitism!r}"
            )

        self.selection = selection
        self.num_survivors = num_survivors
        self.tournament_size = tournament_size
        self.crossover = crossover
        self.crossover_prob = float(crossover_prob)
        self.blx_alpha = float(blx_alpha)
        self.mutation_prob = float(mutation_prob)
        self.mutation_std = float(mutation_std)
        self.big_mutation_prob = float(big_mutation_prob)
        self.big_mutation_scale = big_mutation_scale
        self.num_elites = elitism
        self.replace_parents_if_better = bool(replace_parents_if_better)

        self.population = self._initial_population()
        # replace_parents_if_better only. phase 0: the next ask scores the population; phase 1: its children.
        # Between the rounds: the children [pop, D], the scored population they were bred from [pop, D], its
        # fresh fitness [pop], and for every child row the row of its parent in it [pop].
        self.phase = 0
        self.children: Tensor | None = None
        self.parents: Tensor | None = None
        self.parent_fitness: Tensor | None = None
        self.parent_index: Tensor | None = None

    # ------------------------------------------------------------------ ask / tell
    def _ask(self) -> Tensor:
        return (self.children if self.phase == 1 else self.population).clone()

    def _tell(self, params: Tensor, fitness: Tensor) -> dict[str, float]:
        if not self.replace_parents_if_better:
            self.population, _ = self._breed(params, fitness)
            return {"num_elites": float(self.num_elites)}
        metrics = {"num_elites": 0.0, "phase": float(self.phase), "children_kept": float("nan")}
        if self.phase == 0:  # the population, freshly scored: breed the children
            self.children, parent_index = self._breed(params, fitness)
            self.parents, self.parent_fitness, self.parent_index = params.clone(), fitness.clone(), parent_index
            self.phase = 1
        else:  # the children, scored: each pair takes its parents' slots if it beats them
            self.population, metrics["children_kept"] = self._replace_parents(params, fitness)
            self.children = self.parents = self.parent_fitness = self.parent_index = None
            self.phase = 0
        return metrics

    def _breed(self, params: Tensor, fitness: Tensor) -> tuple[Tensor, Tensor]:
        """The next population ``[pop, D]`` (elites first, then children) and each child's first parent ``[children]``.

        Children come in pairs: rows ``2i`` and ``2i + 1`` after the elites are bred from the parent rows
        ``index[2i]`` and ``index[2i + 1]`` of ``params``.
        """
        num_children = self.pop_size - self.num_elites
        num_pairs = math.ceil(num_children / 2)
        order = torch.argsort(fitness, descending=True, stable=True)
        parent_index = self._select(fitness, order, 2 * num_pairs)  # [2 * num_pairs]: pairs (2i, 2i + 1)
        child1, child2 = self._cross(params[parent_index[0::2]], params[parent_index[1::2]])
        children = torch.stack([child1, child2], dim=1).reshape(2 * num_pairs, self.num_params)
        children = self._mutate(children[:num_children])

        elites = order[: self.num_elites]
        # an elite slot never holds a non-finite individual while a finite one exists: it gets the best instead
        elites = torch.where(torch.isfinite(fitness[elites]), elites, order[:1].expand_as(elites))
        return torch.cat([params[elites], children]), parent_index[:num_children].clone()

    # ------------------------------------------------------------------ operators
    def _initial_population(self) -> Tensor:
        shape = (self.pop_size, self.num_params)
        noise = self.init_std * self._randn(*shape)
        if self.init_params is None:
            population = self.init_mean + noise
            self._check_initial(population, "the initial population")
            return population
        if self.init_params.shape == shape:
            return self.init_params.clone()
        if self.init_params.shape == (self.num_params,):
            population = self.init_params + noise
            population[0] = self.init_params
            self._check_initial(population, "the initial population (init_params + N(0, init_std**2))")
            return population
        raise ValueError(
            f"init_params must have shape [pop_size, num_params] = [{self.pop_size}, {self.num_params}] or "
            f"[num_params] = [{self.num_params}], got {list(self.init_params.shape)}"
        )

    def _replace_parents(self, children: Tensor, child_fitness: Tensor) -> tuple[Tensor, float]:
        """ga-openai-gym rule: each child pair keeps its slots only if its fitness sum beats its parents'.

        Args:
            children: ``[pop, D]`` the scored children; child_fitness: ``[pop]`` their fresh fitness.

        Returns:
            the next population ``[pop, D]`` and the fraction of children kept.
        """
        parent_fitness = self.parent_fitness[self.parent_index]  # the parents' scores of this generation
        pair = torch.arange(self.pop_size, device=self.device) // 2
        num_pairs = math.ceil(self.pop_size / 2)
        child_sum = torch.zeros(num_pairs, device=self.device).index_add_(0, pair, child_fitness)
        parent_sum = torch.zeros(num_pairs, device=self.device).index_add_(0, pair, parent_fitness)
        keep = (child_sum > parent_sum)[pair]  # -inf never beats anything, so a non-finite pair loses
        population = torch.where(keep[:, None], children, self.parents[self.parent_index])
        return population, float(keep.float().mean())

    def _select(self, fitness: Tensor, order: Tensor, n: int) -> Tensor:
        """Indices ``[n]`` of the parents; non-finite individuals are drawn only when nothing is finite."""
        finite = torch.isfinite(fitness)
        if self.selection == "truncation":
            pool = torch.zeros_like(finite)
            pool[order[: self.num_survivors]] = True
            weights = torch.where((pool & finite).any(), pool & finite, pool).float()
        elif self.selection == "roulette":
            low = torch.where(finite, fitness, torch.full_like(fitness, float("inf"))).min()
            weights = torch.where(finite, fitness - low + _ROULETTE_EPS, torch.zeros_like(fitness))
            weights = torch.where(finite.any(), weights, torch.ones_like(weights))
        else:  # tournament: draw contestants among the finite individuals, keep the fittest of each group
            weights = torch.where(finite.any(), finite.float(), torch.ones_like(fitness))
        draws = self.tournament_size if self.selection == "tournament" else 1
        index = torch.multinomial(weights, n * draws, replacement=True, generator=self.generator)
        if draws > 1:
            contestants = index.view(n, draws)
            index = contestants.gather(1, fitness[contestants].argmax(dim=1, keepdim=True)).squeeze(1)
        return index

    def _cross(self, parent1: Tensor, parent2: Tensor) -> tuple[Tensor, Tensor]:
        """Children ``[pairs, D]`` x 2 of the parent pairs ``[pairs, D]`` x 2."""
        if self.crossover == "none" or self.crossover_prob == 0:
            return parent1, parent2
        num_pairs, dim = parent1.shape
        crossed = (self._rand(num_pairs) < self.crossover_prob)[:, None]  # [pairs, 1]
        if self.crossover == "blx_alpha":
            low, high = torch.minimum(parent1, parent2), torch.maximum(parent1, parent2)
            span = high - low
            low, span = low - self.blx_alpha * span, (1 + 2 * self.blx_alpha) * span
            child1 = low + span * self._rand(num_pairs, dim)
            child2 = low + span * self._rand(num_pairs, dim)
            return torch.where(crossed, child1, parent1), torch.where(crossed, child2, parent2)
        if self.crossover == "one_point":  # cut ~ randint(0, D), tails [cut:] swapped (as in the seed)
            cut = torch.randint(0, dim, (num_pairs, 1), generator=self.generator, device=self.device)
            swap = torch.arange(dim, device=self.device) >= cut
        else:  # uniform
            swap = self._rand(num_pairs, dim) < 0.5
        swap = swap & crossed
        return torch.where(swap, parent2, parent1), torch.where(swap, parent1, parent2)

    def _mutate(self, children: Tensor) -> Tensor:
        """Gaussian per-gene mutation, then the single-gene big mutation, of ``children [n, D]``."""
        if self.mutation_prob > 0 and self.mutation_std > 0:
            noise = self.mutation_std * self._randn(*children.shape)
            if self.mutation_prob < 1:
                noise = torch.where(self._rand(*children.shape) < self.mutation_prob, noise, 0.0)
            children = children + noise
        if self.big_mutation_prob > 0:
            n = children.shape[0]
            rows = torch.arange(n, device=self.device)
            hit = self._rand(n) < self.big_mutation_prob
            gene = torch.randint(0, self.num_params, (n,), generator=self.generator, device=self.device)
            scale = self.big_mutation_scale  # offset in [-scale, scale - 1], numpy's randint(-scale, scale)
            offset = torch.randint(-scale, max(scale, 1), (n,), generator=self.generator, device=self.device)
            value = children.mean(dim=1) + children.std(dim=1, correction=0) * self._randn(n) + offset
            children[rows, gene] = torch.where(hit, value, children[rows, gene])
        return children
