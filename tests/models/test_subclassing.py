"""Subclassed models and Keras's step API: call(inputs, training) in fit, overridden
train_step/test_step/predict_step honoured with compute_loss, trainable_weights and
metrics, the *_on_batch methods, get_layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deepdescent as keras
from deepdescent import layers, metrics

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 4)).astype("float32")
Y = RNG.normal(size=(32, 1)).astype("float32")


class TwoLayers(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(8, activation="relu")
        self.dropout = layers.Dropout(0.5)
        self.out = layers.Dense(1)
        self.modes = []

    def call(self, inputs, training=None):
        self.modes.append(training)
        return self.out(self.dropout(self.hidden(inputs), training=training))


def test_a_subclass_trains_with_fit_and_gets_the_training_flag():
    torch.manual_seed(0)
    model = TwoLayers()
    model.compile(optimizer="adam", loss="mse")
    model.build((None, 4))
    before = [w.copy() for w in model.get_weights()]
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert True in model.modes
    model.modes.clear()
    model.predict(X, verbose=0)
    assert model.modes == [False]
    assert model.get_layer("hidden") is model.hidden and model.get_layer(index=2) is model.out
    assert model.name == "two_layers"


def test_calling_a_model_on_numpy_returns_a_tensor():
    model = TwoLayers()
    out = model(X)
    assert isinstance(out, torch.Tensor) and out.shape == (32, 1)


def test_layers_kept_by_a_subclass_get_keras_names_and_the_first_call_builds():
    """Keras names the layers when they are made (dense, dropout, dense_1); the summary
    after a first call shows them with their outputs' shapes."""
    model = TwoLayers()
    assert [layer.name for layer in model.layers] == ["dense", "dropout", "dense_1"]
    assert model.get_layer("dense_1") is model.out is model.get_layer("out")
    named = layers.Dense(2, name="mine")
    model.extra = named
    assert named.name == "mine"
    model(X)
    rows = model.summary(print_fn=lambda _: None).splitlines()
    assert any("dense (Dense)" in row and "(None, 8)" in row for row in rows)
    assert any("dense_1 (Dense)" in row and "(None, 1)" in row for row in rows)


class Counting(keras.Model):
    """The guide's custom step, with a call counter."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps_seen = 0

    def train_step(self, data):
        self.steps_seen += 1
        x, y = data[:2]
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        weights = self.trainable_weights
        with torch.no_grad():
            self.optimizer.apply([v.value.grad for v in weights], weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def _functional(cls=keras.Model):
    torch.manual_seed(0)
    inputs = keras.Input(shape=(4,))
    return cls(inputs, layers.Dense(1)(inputs))


def test_an_overridden_train_step_is_what_fit_runs():
    model = _functional(Counting)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    history = model.fit(X, Y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    assert model.steps_seen == 8
    # The same updates as the built-in step: SGD on the batch's mean squared error.
    reference = _functional()
    reference.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["mae"]
    )
    expected = reference.fit(X, Y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    # Its returned logs are the epoch's: metrics reset each epoch, the loss a mean of
    # batch losses (not weighted by batch size, as the guide's update_state(loss) does).
    assert history.history["mae"] == pytest.approx(expected.history["mae"], rel=1e-5)


def test_own_metrics_property_and_a_compile_without_loss():
    class OwnMetrics(keras.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.tracker = metrics.Mean(name="loss")
            self.calls = metrics.Mean(name="calls")

        @property
        def metrics(self):
            return [self.tracker, self.calls]

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            loss = ((self(x, training=True) - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                self.optimizer.apply(
                    [v.value.grad for v in self.trainable_weights], self.trainable_weights
                )
            self.tracker.update_state(loss)
            self.calls.update_state(1.0)
            return {"loss": self.tracker.result(), "calls": self.calls.result()}

    model = _functional(OwnMetrics)
    model.compile(optimizer="adam")
    history = model.fit(X, Y, batch_size=16, epochs=2, verbose=0)
    assert history.history["calls"] == [1.0, 1.0]


def test_an_overridden_test_step_is_what_evaluate_runs():
    class Evaluating(keras.Model):
        def test_step(self, data):
            x, y = data
            return {"twice": 2 * ((self(x) - y) ** 2).mean()}

    model = _functional(Evaluating)
    model.compile(loss="mse")
    plain = _functional()
    plain.compile(loss="mse")
    assert model.evaluate(X, Y, batch_size=32, verbose=0) == pytest.approx(
        2 * plain.evaluate(X, Y, batch_size=32, verbose=0), rel=1e-5
    )


def test_the_default_train_step_is_keras_and_matches_fit():
    class Delegating(keras.Model):
        def train_step(self, data):
            return super().train_step(data)

    model, reference = _functional(Delegating), _functional()
    for m in (model, reference):
        m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
        m.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_compute_loss_adds_the_layers_terms():
    model = _functional()
    model.compile(loss="mse")
    model.layers[1].add_penalty(model.layers[1].kernel, lambda w: 10 * (w**2).sum())
    y_pred = model(torch.from_numpy(X))
    expected = ((y_pred - torch.from_numpy(Y)) ** 2).mean() + 10 * (
        model.layers[1].kernel ** 2
    ).sum()
    torch.testing.assert_close(model.compute_loss(y=torch.from_numpy(Y), y_pred=y_pred), expected)


def test_on_batch_methods():
    model = _functional()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    before = model.evaluate(X, Y, batch_size=32, verbose=0, return_dict=True)
    logs = model.test_on_batch(X, Y, return_dict=True)
    assert logs["loss"] == pytest.approx(before["loss"])
    loss, _ = model.train_on_batch(X, Y)
    assert loss == pytest.approx(before["loss"], rel=1e-5)
    assert model.evaluate(X, Y, verbose=0, return_dict=True)["loss"] < before["loss"]
    np.testing.assert_allclose(model.predict_on_batch(X), model.predict(X, verbose=0))


def test_a_non_finite_train_on_batch_step_is_not_applied_and_says_so():
    """The non-finite guard of fit runs in train_on_batch too: the step is refused, the
    weights stay, and a warning says so (the logs alone would not show it)."""
    model = _functional()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    before = model.get_weights()
    with pytest.warns(RuntimeWarning, match="the step was not applied"):
        model.train_on_batch(np.full_like(X, 3e38), Y)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
