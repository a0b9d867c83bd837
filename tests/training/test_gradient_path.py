"""The trainer's choice between autograd and the hand-written back-propagation: the whole
table of ``model.backprop`` × participants that need autograd × what the model allows."""

from __future__ import annotations

import pytest

from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.training.backprop import BackpropObjective
from deepdescent.training.gradient_path import (
    BACKPROP_CHOICES,
    GradientPath,
    choose_gradient_path,
    make_objective,
)
from deepdescent.training.objective import Objective


def _model(backprop, manual_allowed):
    """A model every layer of which has a hand-written rule, or one whose regularizer
    needs autograd."""
    regularizer = None if manual_allowed else "l2"
    model = Sequential([Dense(3, input_shape=(2,), kernel_regularizer=regularizer)])
    model.compile(optimizer="sgd", loss="mse")
    model.backprop = backprop
    return model


NEEDY = ("KFAC", "GradientMonitor")
MANUAL_REFUSED = (
    "model.backprop is 'manual', but KFAC, GradientMonitor need autograd's backward pass: "
    "set model.backprop to 'auto' or 'autograd'"
)
MODEL_REFUSES = (
    "backprop='manual' needs a Sequential whose layers all have hand-written backward "
    "passes, no regularizers and no frozen parameters"
)

# (backprop, participants needing autograd, model allows manual) → path and reason, or error
TABLE = [
    ("autograd", (), True, GradientPath("autograd", "model.backprop is 'autograd'")),
    ("autograd", NEEDY, True, GradientPath("autograd", "model.backprop is 'autograd'")),
    ("autograd", (), False, GradientPath("autograd", "model.backprop is 'autograd'")),
    ("autograd", NEEDY, False, GradientPath("autograd", "model.backprop is 'autograd'")),
    ("auto", (), True, GradientPath("manual", "every layer has a hand-written backward pass")),
    ("auto", NEEDY, True, GradientPath("autograd", "KFAC, GradientMonitor need autograd")),
    ("auto", (), False, GradientPath("autograd", "a layer (or a regularizer) needs autograd")),
    ("auto", NEEDY, False, GradientPath("autograd", "KFAC, GradientMonitor need autograd")),
    ("manual", (), True, GradientPath("manual", "every layer has a hand-written backward pass")),
    ("manual", NEEDY, True, MANUAL_REFUSED),
    ("manual", (), False, MODEL_REFUSES),
    ("manual", NEEDY, False, MANUAL_REFUSED),
]


@pytest.mark.parametrize(("backprop", "needed_by", "allowed", "expected"), TABLE)
def test_the_choice_table(backprop, needed_by, allowed, expected):
    model = _model(backprop, allowed)
    if isinstance(expected, GradientPath):
        assert choose_gradient_path(model, needed_by) == expected
    else:
        with pytest.raises(ValueError) as caught:
            choose_gradient_path(model, needed_by)
        assert str(caught.value) == expected


def test_the_table_covers_every_choice():
    assert {row[0] for row in TABLE} == set(BACKPROP_CHOICES)
    assert len({row[:3] for row in TABLE}) == len(BACKPROP_CHOICES) * 2 * 2


def test_an_unknown_backprop_is_refused_by_name():
    with pytest.raises(ValueError) as caught:
        choose_gradient_path(_model("fast", True))
    assert str(caught.value) == "Invalid backprop: 'fast' (expected one of auto, autograd, manual)"


def test_make_objective_builds_the_objective_of_the_path():
    model = _model("auto", True)
    manual, autograd = make_objective(model, "manual"), make_objective(model)
    assert isinstance(manual, BackpropObjective)
    assert type(autograd) is Objective
    with pytest.raises(
        ValueError, match=r"^Invalid path: 'fused' \(expected 'autograd' or 'manual'\)$"
    ):
        make_objective(model, "fused")
