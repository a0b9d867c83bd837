"""The learning-rate search: the grid in closed form, the choice against the scores of
runs trained independently, and diverged trials."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepdescent.bench import DeviceData, SearchBudget, search_learning_rate, train_run
from deepdescent.bench.search import learning_rate
from deepdescent.problems import DataSource, Setting, get_problem


def test_the_grid_is_log_spaced_around_the_working_rate():
    np.testing.assert_allclose(
        SearchBudget(trials=5, span=10.0).grid(0.01),
        [0.001, 0.01 / math.sqrt(10), 0.01, 0.01 * math.sqrt(10), 0.1],
    )
    np.testing.assert_allclose(SearchBudget(trials=3, span=4.0).grid(1.0), [0.25, 1.0, 4.0])
    assert SearchBudget(trials=1).grid(0.3) == [0.3]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"trials": -1}, "Invalid trials: -1"),
        ({"epochs": 0}, "Invalid epochs: 0"),
        ({"span": 1.0}, "Invalid span: 1.0"),
    ],
)
def test_a_budget_checks_its_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        SearchBudget(**arguments)


def test_the_working_rate_is_the_settings_or_the_optimizers_default():
    assert learning_rate("adam", Setting({"lr": 0.02}, 128)) == 0.02
    assert learning_rate("lbfgs", Setting({}, None)) == 1.0


def test_the_search_keeps_the_rate_whose_validation_score_is_best(blobs):
    data = DeviceData.from_splits(blobs.load(DataSource()), "cpu")
    setting = Setting({"lr": 0.3}, 16)
    budget = SearchBudget(trials=3, epochs=1, span=10.0)
    search = search_learning_rate(blobs, data, "sgd", setting, budget, seed=0, target=blobs.target)
    rates = budget.grid(0.3)
    assert [t.learning_rate for t in search.trials] == rates
    for trial in search.trials:
        again = train_run(
            blobs,
            data,
            "sgd",
            Setting({"lr": trial.learning_rate}, 16),
            seed=0,
            epochs=1,
            target=blobs.target,
        )
        assert trial.score == again.curves["val_accuracy"][-1]
    best = max(search.trials, key=lambda t: t.score)
    assert search.chosen == Setting({"lr": best.learning_rate}, 16)
    assert search.start == setting and search.metric == "val_accuracy"
    at_edge = best.learning_rate != rates[1]
    assert ("edge of the grid" in search.note) == at_edge


def test_a_loss_target_keeps_the_least_loss_and_never_a_diverged_trial():
    problem = get_problem("rosenbrock")
    data = DeviceData.from_splits(problem.load(DataSource()), "cpu")
    budget = SearchBudget(trials=3, epochs=1, span=10.0)
    search = search_learning_rate(
        problem, data, "sgd", Setting({"lr": 1e-3}, 1), budget, seed=0, target=problem.target
    )
    diverged = [t.diverged for t in search.trials]
    assert diverged == [False, False, True], "ε = 0.01 overflows in Rosenbrock's quartic"
    assert math.isnan(search.trials[2].score)
    best = min(search.trials[:2], key=lambda t: t.score)
    assert search.chosen.hyperparameters == {"lr": best.learning_rate}


def test_when_every_trial_diverges_the_working_setting_is_kept():
    problem = get_problem("rosenbrock")
    data = DeviceData.from_splits(problem.load(DataSource()), "cpu")
    setting = Setting({"lr": 0.1}, 1)
    search = search_learning_rate(
        problem, data, "sgd", setting, SearchBudget(2, 1, 2.0), seed=0, target=problem.target
    )
    assert all(t.diverged for t in search.trials)
    assert search.chosen == setting and "every trial diverged" in search.note


def test_one_trial_is_no_search(blobs):
    search = search_learning_rate(
        blobs, None, "adam", Setting({}, 16), SearchBudget(1), seed=0, target=blobs.target
    )
    assert search.trials == () and search.chosen == Setting({}, 16) and search.note
