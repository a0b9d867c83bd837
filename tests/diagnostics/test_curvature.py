"""gᵀg, gᵀHg and Hessian-vector products against torch.func on exact Hessians."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diagnostics._problems import (
    Quadratic,
    classification_batch,
    exact_hessian_of,
    flat_parameters,
    loss_of_flat,
    mean_of_outputs,
    quadratic_batch,
    tanh_net,
)
from torch.func import functional_call, hessian

from deepdescent.diagnostics import curvature_along_gradient, hessian_vector_product
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.utils import set_random_seed, to_categorical


def test_gradient_curvature_is_exact_in_float64():
    net = tanh_net()
    x, y = classification_batch()
    loss = torch.nn.CrossEntropyLoss()
    cost = loss_of_flat(net, loss, x, y)
    theta = flat_parameters(net)
    g = torch.func.grad(cost)(theta).numpy()
    h = exact_hessian_of(net, loss, x, y)
    result = curvature_along_gradient(net, loss, x, y, learning_rate=0.3)
    assert result.gradient_norm_sq == pytest.approx(g @ g, rel=1e-8, abs=1e-8)
    assert result.curvature == pytest.approx(g @ h @ g, rel=1e-8, abs=1e-8)
    expected = 0.5 * 0.3**2 * (g @ h @ g) - 0.3 * (g @ g)
    assert result.predicted_change == pytest.approx(expected, rel=1e-8, abs=1e-8)
    assert result.loss == pytest.approx(float(cost(theta)), rel=1e-12)


def test_on_a_quadratic_the_prediction_is_the_actual_change():
    """J is quadratic: the second-order model of a step is exact, and ε* = gᵀg/gᵀHg is the
    exact line minimum."""
    model = Quadratic([6.0, 3.0, 1.0, 0.25])
    x, y = quadratic_batch()
    result = curvature_along_gradient(model, mean_of_outputs, x, y, learning_rate=0.2)
    theta = model.theta.detach().numpy().copy()
    a, b = model.matrix, model.b.numpy()

    def cost(t):
        return 0.5 * t @ a @ t + b @ t

    g = a @ theta + b
    assert result.predicted_change == pytest.approx(cost(theta - 0.2 * g) - cost(theta), rel=1e-10)
    step = result.optimal_learning_rate
    line = [cost(theta - e * g) for e in (step * 0.99, step, step * 1.01)]
    assert line[1] < min(line[0], line[2])
    assert step == pytest.approx((g @ g) / (g @ a @ g), rel=1e-12)


def test_learning_rate_defaults_to_the_compiled_optimizers():
    set_random_seed(0)
    model = Sequential([Dense(5, activation="tanh", input_shape=(3,)), Dense(2)]).double()
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.random.default_rng(0).normal(size=(2, 10, 3))[0], np.zeros((10, 2))
    assert curvature_along_gradient(model, None, x, y).learning_rate == pytest.approx(0.01)
    net = tanh_net()
    result = curvature_along_gradient(net, torch.nn.CrossEntropyLoss(), *classification_batch())
    assert result.learning_rate is None and result.predicted_change is None


def test_hessian_vector_product_in_each_form():
    net = tanh_net()
    x, y = classification_batch()
    loss = torch.nn.CrossEntropyLoss()
    h = torch.from_numpy(exact_hessian_of(net, loss, x, y))
    vectors = torch.randn(3, len(h), dtype=torch.float64)
    torch.testing.assert_close(hessian_vector_product(net, loss, x, y, vectors[0]), h @ vectors[0])
    torch.testing.assert_close(hessian_vector_product(net, loss, x, y, vectors), vectors @ h)
    split = [
        part.reshape(p.shape)
        for part, p in zip(
            vectors[0].split([p.numel() for p in net.parameters()]), net.parameters(), strict=True
        )
    ]
    products = hessian_vector_product(net, loss, x, y, split)
    torch.testing.assert_close(torch.cat([p.reshape(-1) for p in products]), h @ vectors[0])
    with pytest.raises(ValueError, match=r"Invalid v: 'shape \(4,\)'"):
        hessian_vector_product(net, loss, x, y, torch.ones(4))


def test_a_softmax_model_is_differentiated_as_fit_does():
    """Softmax + categorical cross-entropy: the Hessian of the logits form, which equals
    the probability form's where nothing is clipped."""
    set_random_seed(0)
    model = Sequential(
        [Dense(4, activation="sigmoid", input_shape=(3,)), Dense(3, activation="softmax")]
    ).double()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(15, 3)))
    y = torch.tensor(to_categorical(rng.integers(0, 3, 15), 3)).double()
    names = [name for name, _ in model.named_parameters()]
    sizes = [p.numel() for p in model.parameters()]
    shapes = [p.shape for p in model.parameters()]

    def cost(flat):
        parts = [part.reshape(s) for part, s in zip(flat.split(sizes), shapes, strict=True)]
        probabilities = functional_call(model, dict(zip(names, parts, strict=True)), (x,))
        return -(y * probabilities.log()).sum(dim=1).mean()

    h = hessian(cost)(flat_parameters(model))
    v = torch.randn(len(h), dtype=torch.float64)
    torch.testing.assert_close(hessian_vector_product(model, None, x, y, v), h @ v)
