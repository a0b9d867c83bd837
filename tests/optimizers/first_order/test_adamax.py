"""Adamax (Kingma & Ba 2015, section 7.1) against torch.optim's Adamax and Keras's update."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optimizers._harness import BODIES, assert_config_round_trips, assert_matches_torch, iterates
from reference import chapter8

from deepdescent.optimizers.first_order.adamax import Adamax

CONFIGS = [
    {"lr": 0.05},
    {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-3},
    {"lr": 0.05, "weight_decay": 0.1},
]


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_optim(config, impl):
    """The second tensor has no gradient every third step, so step counts differ."""
    assert_matches_torch(
        lambda p: Adamax(p, **config, **impl), lambda p: torch.optim.Adamax(p, **config)
    )


def _keras_adamax(theta, grad, lr, betas, eps, steps):
    """Keras's documented update: u = max(β2 u, |g|);  θ ← θ − lr/(1 − β1ᵗ) · m/(u + ε)."""
    beta1, beta2 = betas
    m, u = np.zeros_like(theta), np.zeros_like(theta)
    path = [theta.copy()]
    for t in range(1, steps + 1):
        g = grad(theta)
        m = beta1 * m + (1 - beta1) * g
        u = np.maximum(beta2 * u, np.abs(g))
        theta = theta - lr / (1 - beta1**t) * m / (u + eps)
        path.append(theta.copy())
    return path


@pytest.mark.parametrize("impl", BODIES)
def test_eps_outside_the_max_is_keras_adamax(impl):
    theta0, f = np.linspace(-1.0, 1.2, 6), chapter8.ill_conditioned
    # A large ε so that where it sits changes the iterates visibly.
    reference = _keras_adamax(theta0, lambda t: f(t)[1], 0.03, (0.9, 0.999), 0.5, 100)
    ours = iterates(lambda p: Adamax(p, lr=0.03, eps=0.5, eps_in_max=False, **impl), f, theta0)
    np.testing.assert_allclose(ours, reference, rtol=1e-10)
    assert f(reference[-1])[0] < 0.5 * f(theta0)[0]


def test_step_is_bounded_by_the_bias_corrected_learning_rate():
    """|Δθ| ≤ ε/(1 − ρ₁ᵗ) elementwise (Kingma & Ba, section 7.1)."""
    torch.manual_seed(0)
    theta = torch.zeros(1000, requires_grad=True)
    optimizer = Adamax([theta], lr=0.1, eps=0.0)
    for t in range(1, 20):
        before = theta.detach().clone()
        theta.grad = torch.randn(1000) * 10.0**t
        optimizer.step()
        assert (theta.detach() - before).abs().max() <= 0.1 / (1 - 0.9**t) * (1 + 1e-6)


def test_defaults_and_keras_names():
    assert Adamax().learning_rate == 1e-3
    assert Adamax().get_config()["eps_in_max"] is True
    assert Adamax(learning_rate=0.01).learning_rate == 0.01


def test_config_round_trips_through_json():
    assert_config_round_trips(Adamax(lr=0.01, betas=(0.8, 0.9), eps_in_max=False, weight_decay=0.1))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"betas": (1.0, 0.999)}, "betas"),
        ({"betas": (0.9, -0.1)}, "betas"),
        ({"eps": -1.0}, "eps"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        Adamax(**kwargs)
