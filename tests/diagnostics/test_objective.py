"""(model, loss_fn, x, y) into the cost J(θ): the forms accepted, the errors for the rest."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diagnostics._problems import classification_batch, tanh_net

from deepdescent.diagnostics import parameter_vector
from deepdescent.diagnostics._objective import as_vector, resolve
from deepdescent.layers import Dense, Dropout
from deepdescent.losses import SparseCategoricalCrossentropy
from deepdescent.models import Sequential
from deepdescent.training import make_objective
from deepdescent.utils import set_random_seed, to_categorical


def _softmax_model(**dense):
    set_random_seed(0)
    model = Sequential(
        [Dense(4, activation="sigmoid", input_shape=(3,), **dense), Dense(3, activation="softmax")]
    )
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype("float32")
    return model, x, to_categorical(rng.integers(0, 3, 12), 3)


@pytest.mark.parametrize("dense", [{}, {"kernel_regularizer": "l2"}])
def test_the_cost_is_the_trainers(dense):
    """Folded softmax and layer penalties included, as fit computes J."""
    model, x, y = _softmax_model(**dense)
    expected = make_objective(model, "autograd")(torch.tensor(x), torch.tensor(y))[0]
    assert resolve(model, None, x, y).value() == pytest.approx(float(expected.detach()), rel=1e-6)
    by_name = resolve(model, "categorical_crossentropy", x, y).value()
    assert by_name == pytest.approx(float(expected.detach()), rel=1e-6)


def test_keras_and_torch_loss_orders():
    net = tanh_net()
    x, y = classification_batch()
    expected = float(torch.nn.functional.cross_entropy(net(x), y).detach())
    keras = SparseCategoricalCrossentropy(from_logits=True)
    assert resolve(net, keras, x, y).value() == pytest.approx(expected, rel=1e-12)
    assert resolve(net, torch.nn.CrossEntropyLoss(), x, y).value() == pytest.approx(
        expected, rel=1e-12
    )
    per_example = resolve(
        net, lambda y_true, y_pred: -y_pred.log_softmax(-1).gather(1, y_true[:, None].long()), x, y
    )
    assert per_example.value() == pytest.approx(expected, rel=1e-12)


def test_evaluation_mode_inside_training_mode_restored():
    set_random_seed(0)
    model = Sequential([Dense(8, input_shape=(3,)), Dropout(0.5), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.train()
    objective = resolve(model, None, np.ones((5, 3)), np.zeros((5, 1)))
    assert objective.value() == objective.value()
    assert model.training


def test_parameter_vectors_round_trip():
    model, x, y = _softmax_model()
    objective = resolve(model, None, x, y)
    theta = parameter_vector(model)
    assert theta.shape == (objective.size,) == (4 * 3 + 4 + 4 * 3 + 3,)
    torch.testing.assert_close(as_vector(model.get_weights(), objective.params, "theta0"), theta)
    with objective.at(torch.zeros_like(theta)):
        assert float(parameter_vector(model).abs().sum()) == 0.0
    torch.testing.assert_close(parameter_vector(model), theta)
    with pytest.raises(ValueError, match=r"Invalid theta0: 'shape \(3,\)'"):
        as_vector(torch.ones(3), objective.params, "theta0")
    with pytest.raises(ValueError, match="Invalid theta1: '1 tensors'"):
        as_vector([np.ones(3)], objective.params, "theta1")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"model": "net"}, "Invalid model: 'str'"),
        ({"model": torch.nn.ReLU()}, "Invalid model: 'ReLU' .expected a model with trainable"),
        ({"loss_fn": None}, r"Invalid loss_fn: None \(expected a loss \(the model is not compiled"),
        (
            {"y": torch.zeros(5, dtype=torch.long)},
            r"Invalid y: '5 examples' \(expected as many examples as x \(24\)\)",
        ),
        ({"x": np.array(["a", "b"])}, "Invalid x"),
        ({"x": torch.zeros(0, 4)}, "Invalid x: 'shape .0, 4.'"),
    ],
)
def test_bad_input_is_named(arguments, message):
    x, y = classification_batch()
    given = {
        "model": tanh_net(),
        "loss_fn": torch.nn.CrossEntropyLoss(),
        "x": x,
        "y": y,
    } | arguments
    with pytest.raises(ValueError, match=message):
        resolve(given["model"], given["loss_fn"], given["x"], given["y"])
