"""History records every epoch's logs, as Keras's does."""

from __future__ import annotations

from deepdescent.callbacks import CallbackList, History


def test_history_records_epochs_and_values(model):
    history = History()
    callbacks = CallbackList([history], model=model)
    callbacks.on_train_begin()
    for epoch, (loss, val) in enumerate([(1.0, 1.5), (0.5, 0.9), (0.25, 0.8)]):
        callbacks.on_epoch_begin(epoch)
        callbacks.on_epoch_end(epoch, {"loss": loss, "val_loss": val})
    callbacks.on_train_end()
    assert history.epoch == [0, 1, 2]
    assert history.history == {"loss": [1.0, 0.5, 0.25], "val_loss": [1.5, 0.9, 0.8]}
    assert all(type(v) is float for v in history.history["loss"])
    assert model.history is history


def test_history_keeps_growing_across_fits_but_epoch_restarts(model):
    history = History()
    history.set_model(model)
    for _ in range(2):
        history.on_train_begin()
        history.on_epoch_end(0, {"loss": 1.0})
    assert history.epoch == [0]
    assert history.history == {"loss": [1.0, 1.0]}
