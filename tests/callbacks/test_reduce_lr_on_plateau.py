"""ReduceLROnPlateau's learning-rate sequence with patience, cooldown and min_lr."""

from __future__ import annotations

import io

import pytest

from deepdescent.callbacks import ReduceLROnPlateau


def run(callback, model, values, key="val_loss"):
    """(rate logged at each epoch end, rate set after each epoch)."""
    callback.set_model(model)
    callback.on_train_begin({})
    logged, after = [], []
    for epoch, value in enumerate(values):
        logs = {key: value}
        callback.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        after.append(model.optimizer.learning_rate)
    return logged, after


def test_cooldown_and_min_lr(model):
    # Plateau from the start. Cut at epoch 1; cooldown=2 holds epoch 2 (the counter is
    # decremented before the check, as in Keras); cut at 3 and at 5, where 0.0125 is
    # floored to min_lr=0.02; then the rate stays at the floor.
    callback = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.02, min_delta=0)
    logged, after = run(callback, model, [1.0] * 9)
    assert after == pytest.approx([0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02])
    assert logged == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02])
    assert all(group["lr"] == pytest.approx(0.02) for group in model.optimizer.param_groups)


def test_improvement_resets_the_patience(model):
    callback = ReduceLROnPlateau(factor=0.1, patience=2)
    _, after = run(callback, model, [1.0, 0.9, 0.95, 0.8, 0.85, 0.86, 0.87])
    assert after == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01])


def test_changes_smaller_than_min_delta_are_a_plateau(model):
    _, after = run(ReduceLROnPlateau(patience=1, min_delta=0.1), model, [1.0, 0.95, 0.92])
    assert after == pytest.approx([0.1, 0.01, 0.001])


def test_max_mode_for_accuracy(model):
    _, after = run(
        ReduceLROnPlateau(monitor="val_accuracy", patience=1),
        model,
        [0.5, 0.7, 0.6],
        key="val_accuracy",
    )
    assert after == pytest.approx([0.1, 0.1, 0.01])


def test_verbose_message(model):
    stream = io.StringIO()
    run(ReduceLROnPlateau(patience=0, factor=0.5, verbose=1, stream=stream), model, [1.0, 1.0])
    assert stream.getvalue() == "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.05.\n"


def test_missing_monitor_warns_and_still_logs_the_rate(model):
    callback = ReduceLROnPlateau(monitor="val_loss")
    callback.set_model(model)
    logs = {"loss": 1.0}
    with pytest.warns(UserWarning, match="Available metrics are: loss,learning_rate"):
        callback.on_epoch_end(0, logs)
    assert logs["learning_rate"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factor": 1.0}, "Invalid factor: 1.0"),
        ({"factor": 2}, "Invalid factor: 2"),
        ({"factor": -0.5}, "Invalid factor: -0.5"),
        ({"patience": -1}, "Invalid patience: -1"),
        ({"cooldown": -1}, "Invalid cooldown: -1"),
        ({"min_lr": -1e-3}, "Invalid min_lr: -0.001"),
        ({"mode": "down"}, "Invalid mode: 'down'"),
        ({"min_delta": -1}, "Invalid min_delta: -1"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReduceLROnPlateau(**kwargs)


def test_config_round_trip():
    callback = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=3, cooldown=1, min_lr=1e-5)
    assert ReduceLROnPlateau(**callback.get_config()).get_config() == callback.get_config()
