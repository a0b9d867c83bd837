"""Bad input: each error names the argument and says what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from deepdescent import layers
from deepdescent.layers import Dense
from deepdescent.models import Sequential


def model(compiled=True):
    m = Sequential(
        [Dense(8, activation="sigmoid", input_shape=(784,)), Dense(10, activation="softmax")]
    )
    if compiled:
        m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    return m


X = np.zeros((20, 784), dtype="float32")
Y = np.eye(10, dtype="float32")[np.arange(20) % 10]


def test_input_of_the_wrong_width():
    with pytest.raises(
        ValueError,
        match=r"x has shape \(20, 28, 28\).*expects inputs of shape "
        r"\(None, 784\)",
    ):
        model().fit(X.reshape(20, 28, 28), Y, verbose=0)


def test_integer_labels_with_categorical_crossentropy():
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy|to_categorical"):
        model().fit(X, np.arange(20) % 10, verbose=0)


@pytest.mark.parametrize("split", [-0.1, 1.0, 1.5])
def test_validation_split_outside_the_unit_interval(split):
    with pytest.raises(ValueError, match="validation_split"):
        model().fit(X, Y, validation_split=split, verbose=0)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5])
def test_batch_size_must_be_positive(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        model().fit(X, Y, batch_size=batch_size, verbose=0)


def test_fit_before_compile():
    with pytest.raises(RuntimeError, match=r"compile\(.*\) before fit"):
        model(compiled=False).fit(X, Y)


@pytest.mark.parametrize(
    ("kwargs", "kind", "suggestion"),
    [
        ({"optimizer": "sgdd"}, "optimizer", "sgd"),
        ({"loss": "categorical_crossentropyy"}, "loss", "categorical_crossentropy"),
        ({"metrics": ["acuracy"]}, "metric", "accuracy"),
    ],
)
def test_unknown_names_list_valid_ones_and_suggest(kwargs, kind, suggestion):
    arguments = {"optimizer": "sgd", "loss": "categorical_crossentropy", **kwargs}
    with pytest.raises(ValueError, match=rf"{kind}.*Did you mean '{suggestion}'"):
        model(compiled=False).compile(**arguments)


def test_unknown_activation():
    with pytest.raises(ValueError, match=r"activation.*Did you mean 'sigmoid'"):
        layers.Dense(3, activation="sigmod")


def test_x_and_y_of_different_lengths():
    with pytest.raises(ValueError, match="same number of samples, got 20 and 19"):
        model().fit(X, Y[:19], verbose=0)


def test_empty_dataset():
    with pytest.raises(ValueError, match="x is empty"):
        model().fit(X[:0], Y[:0], verbose=0)


def test_validation_split_leaving_nothing():
    with pytest.raises(ValueError, match="empty training or validation set"):
        model().fit(X[:1], Y[:1], validation_split=0.5, verbose=0)


def test_non_numeric_input():
    with pytest.raises(TypeError, match="x must be a numeric array"):
        model().fit(np.array([["a"] * 784] * 2), Y[:2], verbose=0)
