"""Sequential's structure: building, naming, weights in Keras's layout, its forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.layers import Activation, Dense, Dropout, Flatten, Input, Reshape
from deepdescent.models import Sequential


def lecture_model() -> Sequential:
    model = Sequential()
    model.add(Dense(units=32, activation="sigmoid", input_shape=(784,)))
    model.add(Dense(units=10, activation="softmax"))
    return model


def test_layers_are_named_like_keras_and_built_from_input_shape():
    model = lecture_model()
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]
    assert model.built and model.input_shape == (None, 784)
    assert [w.shape for w in model.get_weights()] == [(784, 32), (32,), (32, 10), (10,)]
    assert model.count_params() == 784 * 32 + 32 + 32 * 10 + 10


def test_list_constructor_input_layer_and_shape_layers():
    model = Sequential(
        [
            Input(shape=(28, 28)),
            Flatten(),
            Dense(16, activation="relu"),
            Dropout(0.5),
            Reshape((4, 4)),
            Flatten(),
            Activation("tanh"),
        ]
    )
    assert model.input_shape == (None, 28, 28)
    out = model.predict(np.zeros((3, 28, 28), dtype="float32"), verbose=0)
    assert out.shape == (3, 16)


def test_lazy_build_on_first_data():
    model = Sequential([Dense(4), Dense(2)])
    assert not model.built
    out = model.predict(np.ones((5, 3), dtype="float32"), verbose=0)
    assert out.shape == (5, 2) and model.input_shape == (None, 3)


def test_duplicate_layer_names_are_refused():
    model = Sequential([Dense(2, name="hidden", input_shape=(3,))])
    with pytest.raises(ValueError, match="already in the model"):
        model.add(Dense(2, name="hidden"))


def test_forward_is_the_layers_math():
    model = Sequential(
        [Dense(3, activation="tanh", input_shape=(2,)), Dense(1, activation="sigmoid")]
    )
    x = np.random.default_rng(0).normal(size=(4, 2)).astype("float32")
    w1, b1, w2, b2 = model.get_weights()
    expected = 1 / (1 + np.exp(-(np.tanh(x @ w1 + b1) @ w2 + b2)))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5)


def test_torch_modules_get_keras_default_names_too():
    model = Sequential(
        [torch.nn.Linear(2, 3), torch.nn.GELU(), torch.nn.ReLU(), torch.nn.Linear(3, 1)]
    )
    assert [name for name, _ in model.named_children()] == ["linear", "gelu", "re_lu", "linear_1"]
