"""Polyak averaging and SWA against the iterates recorded after every batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.callbacks import Callback
from deepdescent.callbacks.weight_averaging import PolyakAveraging, StochasticWeightAveraging
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers import SGD
from deepdescent.schedules import CosineDecayRestarts
from deepdescent.utils import set_random_seed, to_categorical


class Recorder(Callback):
    """θ(0) at the start of fit, then θ(t) after every update, in float64."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshots: list[list[np.ndarray]] = []

    def _take(self) -> None:
        self.snapshots.append([p.detach().double().numpy().copy() for p in self.model.parameters()])

    def on_train_begin(self, logs=None):
        self._take()

    def on_train_batch_end(self, batch, logs=None):
        self._take()


def _data(n=64, d=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(classes, d))
    labels = rng.integers(0, classes, size=n)
    x = (centers[labels] + rng.normal(size=(n, d))).astype("float32")
    return x, to_categorical(labels, classes)


def _model(learning_rate=0.1):
    set_random_seed(0)
    model = Sequential([Dense(8, activation="sigmoid", input_shape=(5,)), Dense(3, "softmax")])
    model.compile(
        optimizer=SGD(learning_rate=learning_rate, momentum=0.9),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _fit(callback, epochs=2, learning_rate=0.1, **fit_args):
    """Fit a small model for ``epochs`` × 4 updates; returns (model, recorder, history)."""
    model, recorder = _model(learning_rate), Recorder()
    x, y = _data()
    history = model.fit(
        x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=[callback, recorder], **fit_args
    )
    return model, recorder, history


def _weights(model):
    return [p.detach().double().numpy() for p in model.parameters()]


def _assert_weights(got, want, rtol=1e-6):
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(a, dtype=np.float64), b, rtol=rtol, atol=1e-7)


def _mean(snapshots):
    return [np.mean(tensors, axis=0) for tensors in zip(*snapshots, strict=True)]


def test_the_arithmetic_average_is_the_mean_of_the_iterates():
    callback = PolyakAveraging()
    model, recorder, _ = _fit(callback)
    iterates = recorder.snapshots[1:]  # θ(1) … θ(8): the book's (1/t) Σ θ(i)
    assert callback.count == len(iterates) == 8
    _assert_weights(callback.averaged_weights, _mean(iterates))
    _assert_weights(_weights(model), iterates[-1], rtol=0)  # the model is left alone


def test_start_skips_the_first_updates():
    callback = PolyakAveraging(start=3)
    _, recorder, _ = _fit(callback)
    _assert_weights(callback.averaged_weights, _mean(recorder.snapshots[4:]))


def _exponential(iterates, alpha):
    """θ̂(t) = α^(t−1) θ(1) + (1 − α) Σ_{i=2..t} α^(t−i) θ(i)."""
    t = len(iterates)
    return [
        alpha ** (t - 1) * first
        + (1 - alpha) * sum(alpha ** (t - i) * iterates[i - 1][j] for i in range(2, t + 1))
        for j, first in enumerate(iterates[0])
    ]


def test_the_exponential_average_equals_its_closed_form():
    callback = PolyakAveraging(momentum=0.8)
    _, recorder, _ = _fit(callback)
    _assert_weights(callback.averaged_weights, _exponential(recorder.snapshots[1:], 0.8))


def test_a_batch_never_synchronizes_with_the_host(monkeypatch):
    model = _model()
    callback = PolyakAveraging(momentum=0.5)
    callback.set_model(model)
    callback.on_train_begin({})

    def refuse(*args, **kwargs):
        raise AssertionError("host synchronization in a batch hook")

    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    for batch in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        callback.on_train_batch_end(batch, None)
    monkeypatch.undo()
    assert callback.count == 3


def test_epoch_end_evaluates_the_averaged_weights_and_puts_the_model_back():
    x_val, y_val = _data(n=40, seed=1)
    callback = PolyakAveraging(validation_data=(x_val, y_val), batch_size=8)
    model, recorder, history = _fit(callback, validation_data=(x_val, y_val))
    assert {"val_loss_avg", "val_accuracy_avg", "val_loss"} <= set(history.history)
    _assert_weights(_weights(model), recorder.snapshots[-1], rtol=0)
    callback.swap_weights()
    _assert_weights(_weights(model), _mean(recorder.snapshots[1:]))
    expected = model.evaluate(x_val, y_val, batch_size=8, verbose=0, return_dict=True)
    assert history.history["val_loss_avg"][-1] == pytest.approx(expected["loss"], rel=1e-6)
    assert history.history["val_accuracy_avg"][-1] == pytest.approx(expected["accuracy"])
    assert history.history["val_loss_avg"][-1] != pytest.approx(history.history["val_loss"][-1])


def test_swap_on_train_end_puts_the_average_in_and_swapping_again_takes_it_out():
    callback = PolyakAveraging(swap_on_train_end=True)
    model, recorder, _ = _fit(callback)
    _assert_weights(_weights(model), _mean(recorder.snapshots[1:]))
    callback.swap_weights()
    _assert_weights(_weights(model), recorder.snapshots[-1], rtol=0)


@pytest.mark.parametrize("swap", [False, True])
def test_the_averaged_weights_are_saved(tmp_path, swap):
    path = tmp_path / "averaged.safetensors"
    callback = PolyakAveraging(momentum=0.5, swap_on_train_end=swap, filepath=path)
    model, recorder, _ = _fit(callback)
    fresh = _model()
    fresh.load_weights(path)
    average = _exponential(recorder.snapshots[1:], 0.5)
    _assert_weights(_weights(fresh), average)
    # With swap_on_train_end the model ends on the average, else on the last iterate.
    _assert_weights(_weights(model), average if swap else recorder.snapshots[-1])
    assert [p.name for p in tmp_path.iterdir()] == ["averaged.safetensors"]


def test_swa_averages_the_start_and_the_end_of_each_cycle():
    callback = StochasticWeightAveraging(cycle_length=3, start=2)
    _, recorder, _ = _fit(callback, epochs=3)  # 12 updates
    chosen = [2, 5, 8, 11]
    assert callback.count == len(chosen)
    _assert_weights(callback.averaged_weights, _mean([recorder.snapshots[s] for s in chosen]))


def test_swa_with_a_cyclic_schedule_averages_where_the_rate_is_lowest():
    cycle = 4
    schedule = CosineDecayRestarts(0.2, cycle, t_mul=1.0, alpha=0.05)
    callback = StochasticWeightAveraging(cycle_length=cycle)
    _, recorder, history = _fit(callback, epochs=4, learning_rate=schedule)  # 16 updates
    chosen = list(range(0, 17, cycle))  # θ(0) = ŵ, then one point per cycle
    assert callback.count == len(chosen) == 5
    _assert_weights(callback.averaged_weights, _mean([recorder.snapshots[s] for s in chosen]))
    for s in chosen[1:]:  # the update that produced θ(s) used the cycle's lowest rate
        rates = [schedule(k) for k in range(s - cycle, s)]
        assert schedule(s - 1) == min(rates) < max(rates)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_nothing_to_average_warns_instead_of_swapping():
    callback = PolyakAveraging(start=100, swap_on_train_end=True)
    with pytest.warns(UserWarning, match="averaged no weights"):
        model, recorder, _ = _fit(callback)
    _assert_weights(_weights(model), recorder.snapshots[-1], rtol=0)
    with pytest.raises(RuntimeError, match="no averaged weights"):
        PolyakAveraging().swap_weights()


def test_config():
    assert PolyakAveraging(momentum=0.9, start=2).get_config() == {
        "momentum": 0.9,
        "start": 2,
        "batch_size": None,
        "swap_on_train_end": False,
        "filepath": None,
    }
    config = StochasticWeightAveraging(cycle_length=5, filepath="swa.safetensors").get_config()
    assert StochasticWeightAveraging(**config).get_config() == config


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: PolyakAveraging(momentum=1.0), "momentum"),
        (lambda: PolyakAveraging(momentum=-0.1), "momentum"),
        (lambda: PolyakAveraging(momentum="ema"), "momentum"),
        (lambda: PolyakAveraging(start=-1), "start"),
        (lambda: PolyakAveraging(filepath="avg.pt"), "filepath"),
        (lambda: PolyakAveraging(validation_data=np.zeros(3)), "validation_data"),
        (lambda: StochasticWeightAveraging(cycle_length=0), "cycle_length"),
        (lambda: StochasticWeightAveraging(start=1.5), "start"),
    ],
)
def test_invalid_arguments_name_the_argument(make, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        make()
