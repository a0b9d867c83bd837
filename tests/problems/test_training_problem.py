"""Targets and data sources of the training problems."""

from __future__ import annotations

import math

import pytest

from deepdescent.problems import DataSource, Target


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
