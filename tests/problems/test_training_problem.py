"""Targets, data sources and the table of training problems: every problem has a working
setting for every optimizer of the catalogue, looked up by name."""

from __future__ import annotations

import math

import pytest

from deepdescent.optimizers import catalogue
from deepdescent.problems import FUNCTIONS, PROBLEMS, DataSource, Target, get_problem
from deepdescent.recipe import make_optimizer


@pytest.mark.parametrize(
    ("target", "value", "reached"),
    [
        (Target("val_accuracy", 0.8), 0.8, True),
        (Target("val_accuracy", 0.8), 0.79, False),
        (Target("val_loss", 0.5), 0.5, True),
        (Target("val_loss", 0.5), 0.51, False),
        (Target("val_loss", 0.5), math.nan, False),
        (Target("val_accuracy", 0.8), math.nan, False),
    ],
)
def test_a_target_is_reached_at_or_beyond_its_value(target, value, reached):
    assert target.reached(value) is reached


def test_targets_name_a_validation_quantity_and_print_their_rule():
    assert str(Target("val_accuracy", 0.85)) == "val_accuracy ≥ 0.85"
    assert str(Target("val_loss", 0.5).with_value(0.25)) == "val_loss ≤ 0.25"
    with pytest.raises(ValueError, match=r"Invalid metric: 'accuracy'.*validation"):
        Target("accuracy", 0.9)


def test_a_data_source_limit_is_a_positive_count():
    assert DataSource(limit=10).limit == 10
    with pytest.raises(ValueError, match="Invalid limit: 0"):
        DataSource(limit=0)


def test_the_table_holds_the_networks_the_noisy_quadratic_and_every_2d_function():
    assert list(PROBLEMS)[:4] == [
        "lecture_mlp",
        "logistic_regression",
        "deep_relu_mlp",
        "noisy_quadratic",
    ]
    assert set(PROBLEMS) == {*list(PROBLEMS)[:4], *FUNCTIONS}
    assert get_problem("Lecture-MLP") is PROBLEMS["lecture_mlp"]
    with pytest.raises(ValueError, match=r"Unknown problem 'mlp'.*Valid names: beale, booth"):
        get_problem("mlp")


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_every_optimizer_of_the_catalogue_has_a_setting_that_builds(problem):
    for name in catalogue.names():
        setting = PROBLEMS[problem].setting(name)
        assert setting.batch_size is None or setting.batch_size >= 1
        make_optimizer(name, options=setting.hyperparameters)
