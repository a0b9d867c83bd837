"""The objective J(θ) = L(y, f(x; θ)) + Ω(θ) against the same cost written with
torch.nn.functional, the functions handed to optimizers that reproduce it, and the folding
of a final softmax/sigmoid into the cross-entropy only where the loss allows it."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from deepdescent import losses
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.training.objective import Objective, objective_parts


def _model(last_activation="softmax", loss="categorical_crossentropy", regularizer="l2"):
    torch.manual_seed(0)
    model = Sequential(
        [
            Dense(4, activation="tanh", input_shape=(3,)),
            Dense(3, activation=last_activation, kernel_regularizer=regularizer),
        ]
    ).double()
    model.compile(optimizer="sgd", loss=loss)
    return model


def _batch():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, dtype=torch.float64, generator=generator)
    labels = torch.tensor([0, 2, 1, 1, 0, 2])
    return x, F.one_hot(labels, 3).double(), labels


def _logits(model, x):
    """z of the last layer, written out from the weights."""
    (w1, b1), (w2, b2) = ((layer.kernel, layer.bias) for layer in model.layers)
    return F.linear(torch.tanh(F.linear(x, w1.T, b1)), w2.T, b2)


def _by_hand(model, x, labels):
    """Mean softmax cross-entropy of the logits plus Keras's L2 penalty 0.01 ‖W₂‖²."""
    kernel = model.layers[1].kernel
    return F.cross_entropy(_logits(model, x), labels) + 0.01 * (kernel**2).sum()


def test_the_cost_is_the_loss_of_the_logits_plus_the_penalty():
    model = _model()
    x, y, labels = _batch()
    objective = Objective(**objective_parts(model)[0])
    cost, outputs = objective(x, y)
    torch.testing.assert_close(outputs, _logits(model, x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(cost, _by_hand(model, x, labels), rtol=1e-12, atol=1e-12)


def test_value_and_grad_leaves_the_gradient_of_the_cost_in_grad():
    model = _model()
    x, y, labels = _batch()
    for param in model.parameters():
        param.grad = torch.full_like(param, 7.0)  # stale: must not be accumulated into
    cost, outputs = Objective(**objective_parts(model)[0]).value_and_grad(x, y)
    assert not cost.requires_grad and not outputs.requires_grad
    expected = torch.autograd.grad(_by_hand(model, x, labels), list(model.parameters()))
    for param, gradient in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(param.grad, gradient, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("activation", "loss"),
    [("softmax", "categorical_crossentropy"), ("linear", "mse"), ("sigmoid", "mse")],
)
def test_model_outputs_reproduce_the_objectives_cost(activation, loss):
    model = _model(activation, loss)
    x, y, _ = _batch()
    objective = Objective(**objective_parts(model)[0])
    handed = objective.model_outputs(x, y)
    outputs = handed.outputs_fn()
    assert outputs.grad_fn is not None and handed.outputs_fn() is not outputs
    cost, _ = objective(x, y)
    rebuilt = handed.loss_of_outputs(outputs) + handed.penalty()
    torch.testing.assert_close(rebuilt, cost, rtol=0, atol=0)
    torch.testing.assert_close(handed.penalty(), 0.01 * (model.layers[1].kernel ** 2).sum())


def test_sampled_loss_draws_targets_from_the_models_distribution():
    """Softmax cross-entropy: labels drawn from softmax(z); with one logit far above the
    others the draw is that class. Squared error: y = z + ε √(width / 2), ε ~ N(0, I)."""
    x, y, _ = _batch()
    categorical = Objective(**objective_parts(_model())[0]).model_outputs(x, y)
    z = torch.tensor([[60.0, 0.0, 0.0], [0.0, 0.0, 60.0]], dtype=torch.float64)
    expected = F.cross_entropy(z, torch.tensor([0, 2]))
    torch.testing.assert_close(categorical.sampled_loss(z), expected)

    squared = Objective(**objective_parts(_model("linear", "mse"))[0]).model_outputs(x, y)
    torch.manual_seed(3)
    value = squared.sampled_loss(z)
    torch.manual_seed(3)
    noise = torch.randn_like(z) * math.sqrt(3 / 2)
    torch.testing.assert_close(value, (noise**2).mean())

    absolute = Objective(**objective_parts(_model("linear", "mae"))[0]).model_outputs(x, y)
    assert absolute.sampled_loss is None


# -- folding the final activation into the loss --------------------------------------------------

FOLDS = [
    ("softmax", "categorical_crossentropy", True),
    ("softmax", "sparse_categorical_crossentropy", True),
    ("sigmoid", "binary_crossentropy", True),
    ("softmax", "mse", False),
    ("sigmoid", "categorical_crossentropy", False),
    ("linear", "categorical_crossentropy", False),
    ("softmax", losses.CategoricalCrossentropy(from_logits=True), False),
]


@pytest.mark.parametrize(("activation", "loss", "folded"), FOLDS)
def test_the_activation_is_folded_only_where_the_loss_allows(activation, loss, folded):
    model = _model(activation, loss)
    parts, fold = objective_parts(model)
    assert fold is folded is model.loss.folds(activation)
    x, _, _ = _batch()
    with torch.no_grad():
        outputs, probabilities = parts["forward"](x), model(x)
        torch.testing.assert_close(parts["to_prediction"](outputs), probabilities)
        if folded:
            assert parts["loss"].from_logits and not model.loss.from_logits
            torch.testing.assert_close(outputs, _logits(model, x))
        else:
            assert parts["loss"] is model.loss
            torch.testing.assert_close(outputs, probabilities, rtol=0, atol=0)


def test_the_folded_cost_equals_the_cost_of_the_probabilities_where_nothing_saturates():
    model = _model(regularizer=None)
    x, y, _ = _batch()
    cost, _ = Objective(**objective_parts(model)[0])(x, y)
    with torch.no_grad():
        probabilities = model(x)
    torch.testing.assert_close(cost, -(y * probabilities.log()).sum(1).mean(), rtol=1e-10, atol=0)


def test_no_penalty_without_regularizers_and_an_error_before_compile():
    parts, _ = objective_parts(_model(regularizer=None))
    assert parts["penalty"] is None
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(RuntimeError, match=r"compile\(optimizer=\.\.\., loss=\.\.\.\) before fit"):
        objective_parts(model)
