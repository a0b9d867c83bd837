"""The layers' hand-written back-propagation equals autograd, layer by layer and loss by
loss, in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent import losses
from deepdescent.layers import Activation, Dense, Dropout, Flatten, Input, Reshape
from deepdescent.models import Sequential
from deepdescent.training.backprop import BackpropObjective, supports_backprop
from deepdescent.training.gradient_path import choose_gradient_path, make_objective


def _architectures():
    yield (
        "sigmoid-softmax",
        [Dense(7, activation="sigmoid", input_shape=(6,)), Dense(4, activation="softmax")],
    )
    yield (
        "tanh-relu-sigmoid",
        [
            Dense(5, activation="tanh", input_shape=(6,)),
            Dense(5, activation="relu"),
            Dense(4, activation="sigmoid"),
        ],
    )
    yield (
        "activation-dropout",
        [
            Dense(5, input_shape=(6,)),
            Activation("tanh"),
            Dropout(0.4),
            Dense(4, activation="softmax"),
        ],
    )
    yield "softmax-unfused", [Dense(4, activation="softmax", input_shape=(6,))]
    yield (
        "reshape-flatten",
        [Input(shape=(6,)), Reshape((2, 3)), Flatten(), Dense(4, activation="sigmoid")],
    )


LOSSES = {
    "categorical_crossentropy": lambda: "categorical_crossentropy",
    "smoothed_crossentropy": lambda: losses.CategoricalCrossentropy(label_smoothing=0.1),
    "sparse_categorical_crossentropy": lambda: "sparse_categorical_crossentropy",
    "binary_crossentropy": lambda: "binary_crossentropy",
    "mse": lambda: "mse",
    "huber": lambda: "huber",
}


def _targets(loss_name, n, width, rng):
    labels = rng.integers(0, width, size=n)
    if loss_name == "sparse_categorical_crossentropy":
        return torch.from_numpy(labels)
    if loss_name == "binary_crossentropy":
        return torch.from_numpy(rng.integers(0, 2, size=(n, width)).astype("float64"))
    if loss_name in ("mse", "huber"):
        return torch.from_numpy(rng.normal(size=(n, width)))
    return torch.from_numpy(np.eye(width)[labels])


def _gradients(model, objective, x, y, seed):
    torch.manual_seed(seed)
    model.zero_grad(set_to_none=True)
    cost, outputs = objective.value_and_grad(x, y)
    return cost, outputs, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize(
    ("name", "layers"), list(_architectures()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_hand_written_backprop_equals_autograd(name, layers, loss_name):
    torch.manual_seed(0)
    model = Sequential(layers).double()
    model.compile(optimizer="sgd", loss=LOSSES[loss_name]())
    model.train()
    assert supports_backprop(model)
    manual = make_objective(model, "manual")
    reference = make_objective(model, "autograd")
    assert isinstance(manual, BackpropObjective) and not isinstance(reference, BackpropObjective)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(9, 6)))
    y = _targets(loss_name, 9, 4, rng)
    got = _gradients(model, manual, x, y, seed=3)
    want = _gradients(model, reference, x, y, seed=3)
    torch.testing.assert_close(got[0], want[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got[1], want[1], rtol=1e-12, atol=1e-12)
    for a, b in zip(got[2], want[2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_models_that_need_autograd_fall_back_to_it():
    regularized = Sequential([Dense(3, input_shape=(2,), kernel_regularizer="l2")])
    gelu = Sequential([Dense(3, activation="gelu", input_shape=(2,))])
    torch_layer = Sequential([torch.nn.Linear(2, 3)])
    for model in (regularized, gelu, torch_layer):
        assert not supports_backprop(model)
        model.compile(optimizer="sgd", loss="mse")
        assert choose_gradient_path(model).name == "autograd"
        assert not isinstance(make_objective(model), BackpropObjective)
        model.backprop = "manual"
        with pytest.raises(ValueError, match="backprop='manual'"):
            choose_gradient_path(model)


def test_fit_is_the_same_with_either_backprop():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, size=64)]
    weights = []
    for backprop in ("manual", "autograd"):
        torch.manual_seed(0)
        model = Sequential(
            [Dense(8, activation="sigmoid", input_shape=(6,)), Dense(4, activation="softmax")]
        )
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.backprop = backprop
        model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
        weights.append(model.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
