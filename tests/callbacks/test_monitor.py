"""The "has it improved?" rule of EarlyStopping, ReduceLROnPlateau and ModelCheckpoint:
the mode Keras infers from a metric's name, min_delta, and a missing metric."""

from __future__ import annotations

import math

import pytest

from deepdescent.callbacks.monitor import Monitor, check_mode, infer_mode


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("loss", "min"),
        ("val_loss", "min"),
        ("mean_squared_error", "min"),
        ("val_mse", "min"),
        ("mae", "min"),
        ("categorical_crossentropy", "min"),
        ("kl_divergence", "min"),
        ("accuracy", "max"),
        ("val_accuracy", "max"),
        ("sparse_categorical_accuracy", "max"),
        ("auc", "max"),
        ("val_precision", "max"),
        ("recall", "max"),
        ("learning_rate", None),
        ("val_lr", None),
        ("msex", None),
    ],
)
def test_the_mode_is_inferred_from_the_name(name, mode):
    assert infer_mode(name) == mode


def test_check_mode():
    for mode in ("auto", "min", "max"):
        check_mode(mode)
    with pytest.raises(ValueError) as caught:
        check_mode("minimum")
    assert str(caught.value) == "Invalid mode: 'minimum' (expected one of auto, min, max)"


@pytest.mark.parametrize(
    ("mode", "current", "reference", "improved"),
    [
        ("min", 0.89, 1.0, True),
        ("min", 0.9, 1.0, False),  # by exactly min_delta: not more than it
        ("min", 1.2, 1.0, False),
        ("max", 1.11, 1.0, True),
        ("max", 1.1, 1.0, False),
        ("max", 0.5, 1.0, False),
    ],
)
def test_an_improvement_beats_the_reference_by_more_than_min_delta(
    mode, current, reference, improved
):
    monitor = Monitor("EarlyStopping", "score", mode, min_delta=0.1)
    assert monitor.improved(current, reference) is improved


def test_the_worst_value_is_beaten_by_any_first_reading():
    lower, higher = Monitor("X", "loss", "auto", 0.0), Monitor("X", "accuracy", "auto", 0.0)
    assert (lower.mode, lower.worst) == ("min", math.inf)
    assert (higher.mode, higher.worst) == ("max", -math.inf)
    assert lower.improved(1e300, lower.worst) and higher.improved(-1e300, higher.worst)


def test_auto_mode_for_an_unknown_name_asks_for_a_mode():
    with pytest.raises(ValueError) as caught:
        Monitor("ReduceLROnPlateau", "lr", "auto", 0.0)
    assert str(caught.value) == (
        "ReduceLROnPlateau cannot tell whether monitor='lr' should be minimized or "
        "maximized; pass mode='min' or mode='max'"
    )
    assert Monitor("ReduceLROnPlateau", "lr", "max", 0.0).mode == "max"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"monitor": ""}, "monitor"), ({"mode": "up"}, "mode"), ({"min_delta": -1.0}, "min_delta")],
)
def test_invalid_arguments_name_the_argument(kwargs, argument):
    arguments = {"owner": "EarlyStopping", "monitor": "loss", "mode": "auto", "min_delta": 0.0}
    with pytest.raises(ValueError, match=f"^Invalid {argument}: "):
        Monitor(**{**arguments, **kwargs})


def test_read_returns_the_value_or_warns_with_what_is_there():
    monitor = Monitor("EarlyStopping", "val_loss", "auto", 0.0)
    assert monitor.read({"val_loss": 0.25, "loss": 0.5}) == 0.25
    with pytest.warns(UserWarning) as caught:
        assert monitor.read({"loss": 0.5, "accuracy": 0.9}) is None
    assert str(caught[0].message) == (
        "EarlyStopping is conditioned on metric `val_loss` which is not available. "
        "Available metrics are: loss,accuracy"
    )
    with pytest.warns(UserWarning, match="Available metrics are: $"):
        assert monitor.read(None) is None
