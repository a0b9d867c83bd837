"""What fit accepts: DataLoaders, Datasets, PyDatasets, generators, lists and dicts for
several inputs, sample and class weights, steps_per_epoch and validation_steps — each
checked against the same training on plain arrays or a hand-written weighted step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deepdescent as keras
from deepdescent import layers
from deepdescent.callbacks import LambdaCallback
from deepdescent.models import Model, Sequential
from deepdescent.utils import PyDataset

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 3)).astype("float32")
Y = RNG.normal(size=(24, 1)).astype("float32")


def _model(seed=0):
    torch.manual_seed(seed)
    model = Sequential(
        [layers.Input(shape=(3,)), layers.Dense(4, activation="tanh"), layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    return model


def _trained_on(data, **kwargs):
    model = _model()
    history = model.fit(data, epochs=2, verbose=0, shuffle=False, **kwargs)
    return model, history.history


def _assert_same_weights(a, b):
    for left, right in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(left, right, rtol=1e-6, atol=1e-7)


def _reference():
    model = _model()
    history = model.fit(X, Y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    return model, history.history


def test_a_dataloader_trains_as_the_same_arrays():
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)), batch_size=8
    )
    model, history = _trained_on(loader)
    reference, expected = _reference()
    _assert_same_weights(model, reference)
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-6)


def test_a_torch_dataset_is_batched_by_batch_size():
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    model, _ = _trained_on(dataset, batch_size=8)
    _assert_same_weights(model, _reference()[0])


class Batches(PyDataset):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ends = 0

    def __len__(self):
        return 3

    def __getitem__(self, index):
        return X[index * 8 : (index + 1) * 8], Y[index * 8 : (index + 1) * 8]

    def on_epoch_end(self):
        self.ends += 1


@pytest.mark.parametrize("workers", [1, 3])
def test_a_py_dataset_trains_as_the_same_arrays_with_threads_or_not(workers):
    data = Batches(workers=workers)
    model, _ = _trained_on(data)
    _assert_same_weights(model, _reference()[0])
    assert data.ends == 2


def test_a_py_dataset_is_visited_in_a_random_order_with_shuffle():
    seen = []

    class Recording(Batches):
        def __getitem__(self, index):
            seen.append(index)
            return super().__getitem__(index)

    torch.manual_seed(0)
    np.random.seed(0)
    _model().fit(Recording(), epochs=4, verbose=0, shuffle=True)
    # The batch fit looks at first is the first epoch's first: nothing is read twice.
    assert len(seen) == 12
    epochs = [seen[3 * i : 3 * i + 3] for i in range(4)]
    assert all(sorted(e) == [0, 1, 2] for e in epochs)
    assert any(e != [0, 1, 2] for e in epochs)


def test_a_generator_with_steps_per_epoch_carries_on_across_epochs():
    def batches():
        while True:
            for start in range(0, 24, 8):
                yield X[start : start + 8], Y[start : start + 8]

    steps = []
    model = _model()
    model.fit(
        batches(),
        epochs=2,
        steps_per_epoch=3,
        verbose=0,
        callbacks=[LambdaCallback(on_train_batch_end=lambda b, logs: steps.append(b))],
    )
    assert steps == [0, 1, 2, 0, 1, 2]
    _assert_same_weights(model, _reference()[0])


def test_input_that_runs_out_before_steps_per_epoch_ends_the_epoch_as_keras():
    """Keras 3's epoch iterator: the epoch ends early with a warning, the next one starts
    the input over — so the training equals plain epochs over the same batches."""
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)), batch_size=8
    )
    steps = []
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data before steps_per_epoch=5"):
        history = model.fit(
            loader,
            epochs=2,
            steps_per_epoch=5,
            verbose=0,
            callbacks=[LambdaCallback(on_train_batch_end=lambda b, logs: steps.append(b))],
        )
    assert steps == [0, 1, 2, 0, 1, 2]
    reference, expected = _reference()
    _assert_same_weights(model, reference)
    np.testing.assert_allclose(history.history["loss"], expected["loss"], rtol=1e-6)


def test_a_generator_that_runs_dry_stops_training_without_an_empty_epoch():
    def three_batches():
        for start in range(0, 24, 8):
            yield X[start : start + 8], Y[start : start + 8]

    model = _model()
    with pytest.warns(UserWarning, match="no batch in epoch 3"):
        history = model.fit(three_batches(), epochs=4, steps_per_epoch=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.optimizer.iterations == 3
    assert all(np.isfinite(history.history["loss"]))


def test_steps_per_epoch_on_arrays_and_validation_steps():
    tests = []
    model = _model()
    model.fit(
        X,
        Y,
        batch_size=4,
        epochs=1,
        steps_per_epoch=2,
        validation_data=(X, Y),
        validation_steps=3,
        verbose=0,
        callbacks=[LambdaCallback(on_test_batch_end=lambda b, logs: tests.append(b))],
    )
    assert tests == [0, 1, 2]
    assert model.optimizer.iterations == 2


def test_sample_weight_weighs_each_samples_loss_as_keras():
    """One full-batch SGD step on J = Σᵢ wᵢ (ŷᵢ − yᵢ)² / n, written out by hand."""
    weights = RNG.uniform(0, 2, size=24).astype("float32")
    model = _model()
    kernel, bias = (torch.tensor(w, requires_grad=True) for w in model.get_weights()[2:])
    hidden = torch.tanh(
        torch.from_numpy(X) @ torch.from_numpy(model.get_weights()[0])
        + torch.from_numpy(model.get_weights()[1])
    )
    residual = (hidden.detach() @ kernel + bias - torch.from_numpy(Y))[:, 0]
    (torch.from_numpy(weights) * residual**2).mean().backward()
    expected_kernel = kernel.detach() - 0.1 * kernel.grad
    model.layers[0].trainable = False
    model.fit(X, Y, sample_weight=weights, batch_size=24, epochs=1, verbose=0)
    np.testing.assert_allclose(model.get_weights()[2], expected_kernel.numpy(), rtol=1e-5)


def test_class_weight_is_sample_weight_by_label():
    labels = RNG.integers(0, 3, size=24)
    weights = {0: 0.5, 1: 2.0, 2: 1.0}

    def classifier():
        torch.manual_seed(1)
        model = Sequential([layers.Input(shape=(3,)), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        return model

    by_class, by_sample = classifier(), classifier()
    by_class.fit(X, labels, class_weight=weights, epochs=2, verbose=0, shuffle=False)
    by_sample.fit(
        X,
        labels,
        sample_weight=np.vectorize(weights.get)(labels),
        epochs=2,
        verbose=0,
        shuffle=False,
    )
    _assert_same_weights(by_class, by_sample)
    with pytest.raises(ValueError, match="class_weight"):
        classifier().fit(X, labels, class_weight={0: 1.0}, verbose=0)


def test_lists_and_dicts_feed_several_inputs():
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(2,), name="b")
    torch.manual_seed(0)
    out = layers.Dense(1)(layers.concatenate([a, b]))
    model = Model([a, b], out)
    model.compile(optimizer="sgd", loss="mse")
    second = RNG.normal(size=(24, 2)).astype("float32")
    start = model.get_weights()
    listed = model.fit([X, second], Y, epochs=1, verbose=0, shuffle=False).history["loss"]
    model.set_weights(start)
    named = model.fit({"a": X, "b": second}, Y, epochs=1, verbose=0, shuffle=False).history["loss"]
    assert listed == pytest.approx(named)
    assert model.predict({"a": X, "b": second}, verbose=0).shape == (24, 1)


def test_dataloader_errors_are_about_the_real_problem():
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(X)))
    with pytest.raises(ValueError, match="y is required"):
        _model().fit(loader, verbose=0)
    with pytest.raises(ValueError, match="y must be left out"):
        _model().fit(loader, Y, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        _model().fit(Batches(), validation_split=0.2, verbose=0)


def test_evaluate_and_predict_take_datasets_too():
    model = _model()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)), batch_size=5
    )
    assert model.evaluate(loader, verbose=0) == pytest.approx(model.evaluate(X, Y, verbose=0))
    np.testing.assert_allclose(
        model.predict(loader, verbose=0), model.predict(X, verbose=0), rtol=1e-6
    )
