"""Fair side-by-side comparisons of optimizers on one problem.

For each optimizer (a name of the catalogue): a learning-rate search on the validation
set (:mod:`~deepdescent.bench.search`), then one run per seed with the chosen setting
(:mod:`~deepdescent.bench.run`), every optimizer from the same initial weights and the
same minibatch order for a given seed. A run whose loss stops being finite is marked
diverged and the comparison goes on with the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import torch

from deepdescent.bench.run import DeviceData, RunRecord, train_run
from deepdescent.bench.search import Search, SearchBudget, search_learning_rate
from deepdescent.callbacks.logs import emit
from deepdescent.problems.training_problem import DataSource, Setting, Target, TrainingProblem
from deepdescent.utils._checks import check_argument, check_count, is_number

__all__ = ["Comparison", "OptimizerResult", "compare", "optimizer_names"]


@dataclasses.dataclass(frozen=True)
class OptimizerResult:
    """An optimizer's search and its runs, one per seed."""

    optimizer: str
    search: Search
    runs: tuple[RunRecord, ...]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Everything a comparison did, in the optimizers' order."""

    problem: TrainingProblem
    target: Target
    epochs: int
    seeds: tuple[int, ...]
    budget: SearchBudget
    device: str
    results: tuple[OptimizerResult, ...]


def optimizer_names(names: Sequence[str]) -> list[str]:
    """``names`` as the catalogue spells them; a ``ValueError`` listing the catalogue's
    names for an unknown one, or naming a repeated one."""
    from deepdescent.optimizers import catalogue

    check_argument("optimizers", list(names), len(names) > 0, "at least one optimizer name")
    canonical = [catalogue.info(name).name for name in names]
    repeated = sorted({name for name in canonical if canonical.count(name) > 1})
    check_argument("optimizers", list(names), not repeated, f"each name once ({repeated} repeated)")
    return canonical


def _settings(
    problem: TrainingProblem, names: list[str], given: Mapping[str, Mapping[str, Any]]
) -> dict[str, Setting]:
    """Each optimizer's working setting with the ``given`` hyperparameters over it, built
    once to check them."""
    from deepdescent.optimizers import catalogue
    from deepdescent.recipe import make_optimizer

    extra = {catalogue.info(name).name: dict(values) for name, values in given.items()}
    unknown = sorted(set(extra) - set(names))
    check_argument("settings", unknown, not unknown, f"names among the optimizers {names}")
    settings = {}
    for name in names:
        setting = problem.setting(name)
        hyperparameters = {**setting.hyperparameters, **extra.get(name, {})}
        settings[name] = dataclasses.replace(setting, hyperparameters=hyperparameters)
        make_optimizer(name, options=hyperparameters)
    return settings


def compare(
    problem: TrainingProblem,
    optimizers: Sequence[str],
    *,
    seeds: int = 3,
    epochs: int = 10,
    target: float | None = None,
    budget: SearchBudget | None = None,
    source: DataSource | None = None,
    device: torch.device | str = "cpu",
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    progress: TextIO | None = None,
) -> Comparison:
    """Compare ``optimizers`` on ``problem``: search each one's learning rate with
    ``budget`` (default :class:`SearchBudget`), then train it ``seeds`` times (seeds 0,
    1, ...) for ``epochs`` epochs with the rate chosen.

    Args:
        target: the value of the problem's target metric to reach (default: the
            problem's).
        source: where the data come from (default: the dataset's usual places).
        device: where to train.
        settings: hyperparameters per optimizer, over the problem's working setting
            for it (the search is then centred on their learning rate).
        progress: a stream for progress bars and search lines (``None``: silent).

    Every argument is checked, and every optimizer built once with its setting, before
    any training.
    """
    names = optimizer_names(optimizers)
    check_count("seeds", seeds)
    check_count("epochs", epochs)
    check_argument("target", target, target is None or is_number(target), "a number or None")
    budget = budget or SearchBudget()
    goal = problem.target if target is None else problem.target.with_value(target)
    working = _settings(problem, names, settings or {})
    data = DeviceData.from_splits(problem.load(source or DataSource()), device)
    results = []
    for name in names:
        search = search_learning_rate(
            problem, data, name, working[name], budget, seed=0, target=goal, progress=progress
        )
        runs = []
        for seed in range(seeds):
            if progress is not None:
                rate = search.chosen.hyperparameters.get("lr")
                emit(
                    progress, f"{name}, seed {seed}" + ("" if rate is None else f", lr={rate:.3g}")
                )
            runs.append(
                train_run(
                    problem,
                    data,
                    name,
                    search.chosen,
                    seed=seed,
                    epochs=epochs,
                    target=goal,
                    progress=progress,
                )
            )
        results.append(OptimizerResult(name, search, tuple(runs)))
    return Comparison(
        problem, goal, epochs, tuple(range(seeds)), budget, str(device), tuple(results)
    )
