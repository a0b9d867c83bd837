"""EarlyStopping follows Keras's counting rules, scripted epoch by epoch."""

from __future__ import annotations

import io

import numpy as np
import pytest

from deepdescent.callbacks import EarlyStopping


@pytest.mark.parametrize(
    ("kwargs", "values", "epochs_run"),
    [
        # patience=2: epochs 2 and 3 fail to beat 0.9, so training stops after epoch 3.
        ({"patience": 2}, [1.0, 0.9, 0.95, 0.92, 0.91, 0.5], 4),
        # patience=0 stops at the first epoch (after the first) that does not improve.
        ({"patience": 0}, [1.0, 0.9, 0.95, 0.1], 3),
        # A decrease of 0.05 is not an improvement when min_delta=0.1 ...
        ({"patience": 1, "min_delta": 0.1}, [1.0, 0.95, 0.85, 0.8], 2),
        # ... but it is when min_delta=0.
        ({"patience": 1}, [1.0, 0.95, 0.85, 0.8], 4),
        # Never beating baseline 0.5: the counter is never reset, so the second epoch stops.
        ({"patience": 2, "baseline": 0.5}, [0.9, 0.95, 0.97, 0.2], 2),
        ({"patience": 2}, [0.9, 0.95, 0.97, 0.2], 3),
        # Beating the baseline resets the counter as usual.
        ({"patience": 2, "baseline": 0.5}, [0.4, 0.45, 0.46, 0.3], 3),
        # Improving without beating the baseline never stops (Keras's rule).
        ({"patience": 1, "baseline": 0.1}, [0.9, 0.8, 0.7, 0.6, 0.5], 5),
        # The first two epochs are a warm-up that is not watched.
        ({"patience": 0, "start_from_epoch": 2}, [1.0, 2.0, 3.0, 2.5, 2.6, 1.0], 5),
        ({"patience": 0}, [1.0, 2.0, 3.0, 2.5, 2.6, 1.0], 2),
    ],
)
def test_stops_at_keras_epoch(model, fit, kwargs, values, epochs_run):
    callback = EarlyStopping(**kwargs)
    assert fit(callback, model, values) == epochs_run
    assert callback.stopped_epoch == (epochs_run - 1 if epochs_run < len(values) else 0)


def test_max_mode_is_inferred_for_accuracy(model, fit):
    callback = EarlyStopping(monitor="val_accuracy", patience=1)
    assert fit(callback, model, [0.5, 0.6, 0.55, 0.58, 0.9], key="val_accuracy") == 3
    assert callback.best == 0.6


def test_explicit_mode_wins(model, fit):
    assert fit(EarlyStopping(monitor="loss", mode="max"), model, [1.0, 0.5], key="loss") == 2


def test_restores_the_best_weights_at_the_end(model, fit):
    def train(epoch):  # the fake's arrays change in place, as a parameter's .numpy() would
        for w in model.weights:
            w[...] = epoch + 1

    stream = io.StringIO()
    callback = EarlyStopping(patience=2, restore_best_weights=True, verbose=1, stream=stream)
    assert fit(callback, model, [0.5, 0.3, 0.4, 0.6, 0.1], on_epoch=train) == 4
    assert callback.best_epoch == 1
    assert all(np.all(w == 2.0) for w in model.weights)
    assert stream.getvalue() == (
        "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"
    )


def test_restores_the_best_weights_even_without_stopping(model, fit):
    def train(epoch):
        for w in model.weights:
            w[...] = epoch

    fit(
        EarlyStopping(patience=5, restore_best_weights=True), model, [0.5, 0.2, 0.4], on_epoch=train
    )
    assert all(np.all(w == 1.0) for w in model.weights)


def test_missing_monitor_warns_with_the_available_keys(model):
    callback = EarlyStopping(monitor="val_loss")
    callback.set_model(model)
    callback.on_train_begin()
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available.*loss,accuracy"):
        callback.on_epoch_end(1, {"loss": 1.0, "accuracy": 0.5})
    assert not model.stop_training


def test_state_is_reset_for_a_second_fit(model, fit):
    callback = EarlyStopping(patience=1)
    assert fit(callback, model, [0.1, 0.2, 0.3]) == 2
    model.stop_training = False
    assert fit(callback, model, [5.0, 4.0, 3.0]) == 3
    assert callback.best == 3.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patience": -1}, "Invalid patience: -1"),
        ({"patience": 1.5}, "Invalid patience: 1.5"),
        ({"mode": "lowest"}, "Invalid mode: 'lowest'"),
        ({"min_delta": -0.1}, "Invalid min_delta: -0.1"),
        ({"start_from_epoch": -2}, "Invalid start_from_epoch: -2"),
        ({"baseline": "low"}, "Invalid baseline: 'low'"),
        ({"monitor": "val_widgets"}, "cannot tell whether monitor='val_widgets'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**kwargs)


def test_config_round_trip():
    callback = EarlyStopping(monitor="val_accuracy", min_delta=0.01, patience=3, baseline=0.5)
    assert EarlyStopping(**callback.get_config()).get_config() == callback.get_config()
