"""The callback protocol through fit, evaluate and predict, as Keras 3 runs it: every
hook gets a dict, validation is seen by the test hooks, predict takes callbacks; and the
callbacks LambdaCallback and SwapEMAWeights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent import layers, optimizers
from deepdescent.callbacks import Callback, LambdaCallback, SwapEMAWeights
from deepdescent.models import Sequential

HOOKS = [
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_test_begin",
    "on_test_end",
    "on_predict_begin",
    "on_predict_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
]


class Transcript(Callback):
    """Writes down each hook with the keys of the logs it got (as the Keras guide's
    CustomCallback prints them)."""

    def __init__(self):
        super().__init__()
        self.lines = []


def _recorder(name):
    def hook(self, *args):
        logs = args[-1]
        self.lines.append((name, list(logs.keys())))

    return hook


for _name in HOOKS:
    setattr(Transcript, _name, _recorder(_name))


def _model():
    model = Sequential([layers.Dense(1)])
    model.compile(
        optimizer=optimizers.RMSprop(learning_rate=0.1),
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    return model


DATA = np.random.default_rng(0).normal(size=(20, 3)).astype("float32"), np.ones((20, 1))
METRICS = ["loss", "mean_absolute_error"]


def test_fit_with_validation_follows_keras_3():
    transcript = Transcript()
    _model().fit(
        *DATA, batch_size=8, epochs=1, verbose=0, validation_split=0.5, callbacks=[transcript]
    )
    # Keras 3's keys, in its (sorted) order: no learning rate, and no count of skipped
    # non-finite steps while there is none.
    epoch_keys = [*METRICS, "val_loss", "val_mean_absolute_error"]
    names = [name for name, _ in transcript.lines]
    assert names == [
        "on_train_begin",
        "on_epoch_begin",
        "on_train_batch_begin",
        "on_train_batch_end",
        "on_train_batch_begin",
        "on_train_batch_end",
        "on_test_begin",
        "on_test_batch_begin",
        "on_test_batch_end",
        "on_test_batch_begin",
        "on_test_batch_end",
        "on_test_end",
        "on_epoch_end",
        "on_train_end",
    ]
    logs = dict(transcript.lines)
    assert logs["on_train_begin"] == [] and logs["on_epoch_begin"] == []
    assert logs["on_train_batch_begin"] == [] and logs["on_test_batch_begin"] == []
    assert logs["on_train_batch_end"] == METRICS
    assert logs["on_test_batch_end"] == METRICS and logs["on_test_end"] == METRICS
    assert logs["on_epoch_end"] == epoch_keys and logs["on_train_end"] == epoch_keys


def test_evaluate_and_predict_follow_keras_3():
    model = _model()
    transcript = Transcript()
    model.evaluate(*DATA, batch_size=16, verbose=0, callbacks=[transcript])
    model.predict(DATA[0], batch_size=16, verbose=0, callbacks=[transcript])
    assert transcript.lines == [
        ("on_test_begin", []),
        ("on_test_batch_begin", []),
        ("on_test_batch_end", METRICS),
        ("on_test_batch_begin", []),
        ("on_test_batch_end", METRICS),
        ("on_test_end", METRICS),
        ("on_predict_begin", []),
        ("on_predict_batch_begin", []),
        ("on_predict_batch_end", ["outputs"]),
        ("on_predict_batch_begin", []),
        ("on_predict_batch_end", ["outputs"]),
        ("on_predict_end", []),
    ]


def test_predict_batch_logs_hold_the_outputs():
    model = _model()
    seen = []
    model.predict(
        DATA[0],
        batch_size=16,
        verbose=0,
        callbacks=[
            LambdaCallback(on_predict_batch_end=lambda batch, logs: seen.append(logs["outputs"]))
        ],
    )
    np.testing.assert_allclose(torch.cat(seen).numpy(), model.predict(DATA[0], verbose=0))


def test_lambda_callback_calls_its_functions_including_batch_hooks():
    events = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: events.append("begin"),
        on_epoch_end=lambda epoch, logs: events.append(("epoch", epoch, round(logs["loss"], 6))),
        on_train_batch_end=lambda batch, logs: events.append(("batch", batch)),
    )
    history = _model().fit(*DATA, batch_size=10, epochs=2, verbose=0, callbacks=[callback])
    assert events[:3] == ["begin", ("batch", 0), ("batch", 1)]
    assert [e for e in events if e[0] == "epoch"] == [
        ("epoch", i, round(loss, 6)) for i, loss in enumerate(history.history["loss"])
    ]


def test_lambda_callback_refuses_unknown_hooks():
    with pytest.raises(ValueError, match="on_epoch_ending"):
        LambdaCallback(on_epoch_ending=print)


def _ema_model():
    torch.manual_seed(0)
    model = Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    model.compile(
        optimizer=optimizers.SGD(learning_rate=0.05, use_ema=True, ema_momentum=0.9), loss="mse"
    )
    return model


def test_swap_ema_weights_evaluates_the_average_and_trains_the_iterates():
    model = _ema_model()
    seen = {}

    class Probe(Callback):
        def on_test_begin(self, logs=None):
            seen["evaluated"] = self.model.get_weights()[0].copy()

    model.fit(
        *DATA,
        batch_size=5,
        epochs=1,
        verbose=0,
        callbacks=[SwapEMAWeights(), Probe()],
        validation_data=DATA,
    )
    optimizer = model.optimizer
    kernel = model.layers[0].kernel
    # At the end of fit the average became the weights (finalize), as without the swap.
    np.testing.assert_allclose(seen["evaluated"], model.get_weights()[0])
    assert not optimizer.average_in_parameters
    np.testing.assert_allclose(optimizer.state[kernel]["ema"].numpy(), kernel.detach().numpy())


def test_swap_ema_weights_swaps_back_after_evaluation():
    model = _ema_model()
    model.fit(*DATA, batch_size=5, epochs=1, verbose=0)
    kernel = model.layers[0].kernel
    iterate = kernel.detach().clone()
    with torch.no_grad():
        kernel.add_(1.0)  # make the iterate differ from the average
    moved = kernel.detach().clone()
    average = model.optimizer.state[kernel]["ema"].clone()
    seen = []
    model.evaluate(
        *DATA,
        verbose=0,
        callbacks=[
            SwapEMAWeights(),
            LambdaCallback(on_test_begin=lambda logs: seen.append(kernel.detach().clone())),
        ],
    )
    torch.testing.assert_close(seen[0], average)
    torch.testing.assert_close(kernel.detach(), moved)
    assert not torch.equal(iterate, moved)


def test_swap_ema_weights_needs_an_averaging_optimizer():
    with pytest.raises(ValueError, match="use_ema"):
        _model().evaluate(*DATA, verbose=0, callbacks=[SwapEMAWeights()])
