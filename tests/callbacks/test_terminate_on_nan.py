"""TerminateOnNaN stops at the first non-finite batch loss."""

from __future__ import annotations

import math

import pytest

from deepdescent.callbacks import CallbackList, LazyLogs, TerminateOnNaN


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_stops_training_at_the_first_bad_loss(model, bad):
    callbacks = CallbackList([TerminateOnNaN()], model=model)
    for batch, loss in enumerate([1.0, 0.5]):
        callbacks.on_train_batch_end(batch, LazyLogs({"loss": lambda loss=loss: loss}))
    assert not model.stop_training
    with pytest.warns(UserWarning, match="Batch 2: invalid loss"):
        callbacks.on_train_batch_end(2, LazyLogs({"loss": lambda: bad}))
    assert model.stop_training


def test_raise_error_raises_at_once(model):
    callback = TerminateOnNaN(raise_error=True)
    callback.set_model(model)
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 4"):
        callback.on_train_batch_end(4, {"loss": math.nan})
    assert not model.stop_training


def test_logs_without_loss_are_ignored(model):
    callback = TerminateOnNaN()
    callback.set_model(model)
    callback.on_train_batch_end(0, {"accuracy": math.nan})
    callback.on_train_batch_end(1, None)
    assert not model.stop_training
