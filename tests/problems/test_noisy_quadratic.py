"""The noisy quadratic against NumPy: ℓ(θ; x) = ½(θ − x)ᵀH(θ − x) on minibatches, its
gradient H(θ − x̄), and the validation loss that is the expected loss ½θᵀHθ + ½ tr H."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.problems import DataSource, noisy_quadratic
from deepdescent.problems.noisy_quadratic import DIMENSION, hessian
from deepdescent.utils import set_random_seed


@pytest.fixture(scope="module")
def splits():
    return noisy_quadratic.load(DataSource(limit=300))


def _model(seed=0):
    set_random_seed(seed)
    model = noisy_quadratic.build()
    model.compile(optimizer="sgd", loss=noisy_quadratic.loss)
    return model


def _theta(model):
    return model.module.theta.detach().double().numpy()


def _h():
    eigenvalues, rotation = hessian()
    return rotation @ np.diag(eigenvalues) @ rotation.T


def test_the_spectrum_is_deepobs_quadratic_deep():
    eigenvalues, rotation = hessian()
    assert np.all((eigenvalues[:90] >= 0) & (eigenvalues[:90] <= 1))
    assert np.all((eigenvalues[90:] >= 30) & (eigenvalues[90:] <= 60))
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(DIMENSION), atol=1e-12)
    assert not np.any(np.isclose(np.abs(rotation), 1.0)), "no coordinate axis is an eigenvector"


def test_the_minibatch_loss_and_gradient_are_the_quadratic(splits):
    model = _model()
    x = splits.x_train[:16].astype(np.float64)
    theta, h = _theta(model), _h()
    residuals = theta - x
    expected = 0.5 * np.mean(np.einsum("bi,ij,bj->b", residuals, h, residuals))
    loss = model.evaluate(splits.x_train[:16], splits.y_train[:16], verbose=0)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    outputs = model(torch.as_tensor(splits.x_train[:16]))
    (outputs.pow(2).mean(dim=1).mean()).backward()
    np.testing.assert_allclose(
        model.module.theta.grad.double().numpy(), h @ (theta - x.mean(0)), rtol=1e-4, atol=1e-4
    )


def test_the_validation_loss_is_the_expected_loss(splits):
    model = _model(seed=3)
    theta, h = _theta(model), _h()
    expected = 0.5 * theta @ h @ theta + 0.5 * np.trace(h)
    for x, y in ((splits.x_val, splits.y_val), (splits.x_test, splits.y_test)):
        np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)
    assert noisy_quadratic.target.value == pytest.approx(1.01 * 0.5 * np.trace(h), abs=0.05)


def test_the_start_is_drawn_from_the_seed_and_the_data_are_fixed(splits):
    np.testing.assert_array_equal(_theta(_model(1)), _theta(_model(1)))
    assert not np.allclose(_theta(_model(1)), _theta(_model(2)))
    np.testing.assert_array_equal(
        noisy_quadratic.load(DataSource(limit=300)).x_train, splits.x_train
    )
    assert splits.x_train.shape == (300, DIMENSION)
