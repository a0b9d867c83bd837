"""A comparison end to end on a tiny problem, one that goes on past a diverged optimizer,
and the checks made before any training."""

from __future__ import annotations

import dataclasses
import io

import pytest

from deepdescent.bench import SearchBudget, compare
from deepdescent.problems import get_problem


def test_a_small_comparison_searches_then_runs_each_seed(blobs):
    progress = io.StringIO()
    comparison = compare(
        blobs,
        ["SGD", "adam"],
        seeds=2,
        epochs=2,
        budget=SearchBudget(trials=2, epochs=1),
        progress=progress,
    )
    assert [r.optimizer for r in comparison.results] == ["sgd", "adam"]
    assert comparison.seeds == (0, 1) and comparison.target == blobs.target
    for result in comparison.results:
        assert len(result.search.trials) == 2
        best = max(result.search.trials, key=lambda t: t.score)
        assert result.search.chosen.hyperparameters["lr"] == best.learning_rate
        assert [run.seed for run in result.runs] == [0, 1]
        assert all(run.setting == result.search.chosen for run in result.runs)
        assert all(run.curves["epoch"] == [0, 1, 2] for run in result.runs)
    sgd, adam = comparison.results
    for seed in (0, 1):
        assert sgd.runs[seed].curves["loss"][0] == adam.runs[seed].curves["loss"][0]
    text = progress.getvalue()
    assert "search sgd 1/2: lr=" in text and "adam, seed 1, lr=" in text
    assert "━" in text and "val_accuracy" in text


def test_a_diverged_optimizer_is_marked_and_the_others_go_on():
    comparison = compare(
        get_problem("rosenbrock"),
        ["sgd", "adam"],
        seeds=1,
        epochs=2,
        budget=SearchBudget(trials=0),
        settings={"sgd": {"lr": 0.1}},
    )
    sgd, adam = comparison.results
    assert sgd.runs[0].diverged and sgd.search.chosen.hyperparameters == {"lr": 0.1}
    assert not adam.runs[0].diverged and adam.runs[0].curves["epoch"] == [0, 1, 2]


def test_a_target_value_replaces_the_problems(blobs):
    comparison = compare(blobs, ["sgd"], seeds=1, epochs=1, target=0.1, budget=SearchBudget(0))
    assert str(comparison.target) == "val_accuracy ≥ 0.1"
    assert comparison.results[0].runs[0].target_epoch is not None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"optimizers": ["sgd", "adamm"]}, r"Unknown optimizer 'adamm'.*Valid names: adabelief"),
        ({"optimizers": ["sgd", "SGD"]}, r"Invalid optimizers.*each name once"),
        ({"optimizers": []}, "at least one optimizer name"),
        ({"seeds": 0}, r"Invalid seeds: 0 \(expected an int >= 1\)"),
        ({"epochs": 1.5}, "Invalid epochs: 1.5"),
        ({"target": "high"}, "Invalid target: 'high'"),
        ({"settings": {"adam": {"lr": 1}}}, r"Invalid settings: \['adam'\]"),
        ({"settings": {"sgd": {"momentm": 0.9}}}, "the options do not fit SGD"),
    ],
)
def test_bad_input_is_refused_before_the_data_are_loaded(blobs, arguments, message):
    def refuse(source):
        raise AssertionError("the data were loaded")

    unloadable = dataclasses.replace(blobs, load=refuse)
    with pytest.raises(ValueError, match=message):
        compare(unloadable, **{"optimizers": ["sgd"], **arguments})
