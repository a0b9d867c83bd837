"""AdaBelief (Zhuang et al. 2020, Algorithm 2) against a NumPy transcription of the paper."""

from __future__ import annotations

import pytest
import torch
from optimizers._harness import (
    BODIES,
    STEPS,
    assert_config_round_trips,
    assert_follows,
    book_problems,
    iterates,
)
from reference.adabelief import adabelief

from deepdescent.optimizers.first_order.adabelief import AdaBelief

CONFIGS = [
    {"lr": 0.03, "betas": (0.9, 0.999), "eps": 1e-16},
    {"lr": 0.03, "betas": (0.8, 0.99), "eps": 1e-8},
    {"lr": 0.03, "betas": (0.9, 0.999), "eps": 1e-8, "rectify": True},
    {"lr": 0.03, "betas": (0.9, 0.999), "eps": 1e-16, "weight_decay": 0.1},
]


def _options(config):
    """The reference's arguments as the optimizer's (its weight decay is decoupled)."""
    return {**config, "decoupled_weight_decay": True}


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize(("f", "theta0"), book_problems())
def test_algorithm_2_follows_the_paper(f, theta0, config, impl):
    reference = adabelief(theta0, lambda t: f(t)[1], steps=STEPS, **config)
    ours = iterates(lambda p: AdaBelief(p, **_options(config), **impl), f, theta0, split=4)
    assert_follows(ours, reference)
    assert f(reference[-1])[0] < 0.75 * f(theta0)[0]


@pytest.mark.parametrize("impl", BODIES)
def test_rectified_steps_start_as_momentum_then_turn_adaptive(impl):
    """With rectify=True the first five steps (ρ_t ≤ 5 for ρ₂ = 0.999) are ε ŝ exactly."""
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = AdaBelief([theta], lr=0.1, rectify=True, **impl)
    grad = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    for step in range(1, 7):
        before = theta.detach().clone()
        theta.grad = grad.clone()
        optimizer.step()
        if step <= 5:  # constant gradient: ŝ = g
            torch.testing.assert_close(theta.detach(), before - 0.1 * grad)
    assert not torch.allclose(theta.detach() - before, -0.1 * grad)


@pytest.mark.parametrize("impl", BODIES)
def test_first_step_in_closed_form(impl):
    """At t = 1: s = (1 − ρ₁) g, so g − s = ρ₁ g, r̂ = ρ₁² g² + δ/(1 − ρ₂) and
    Δθ = −ε g / (√r̂ + δ): about ε/ρ₁ per coordinate, where Adam's first step is ε."""
    lr, (beta1, beta2), eps = 0.1, (0.8, 0.99), 1e-4
    grad = torch.tensor([2.0, -0.5, 3.0], dtype=torch.float64)
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = AdaBelief([theta], lr=lr, betas=(beta1, beta2), eps=eps, **impl)
    theta.grad = grad.clone()
    optimizer.step()
    expected = -lr * grad / (torch.sqrt(beta1**2 * grad**2 + eps / (1 - beta2)) + eps)
    torch.testing.assert_close(theta.detach(), expected, rtol=1e-13, atol=0.0)


def test_defaults_and_keras_names():
    optimizer = AdaBelief()
    assert optimizer.learning_rate == 1e-3
    assert optimizer.get_config()["eps"] == 1e-16
    assert optimizer.get_config()["rectify"] is False
    assert AdaBelief(learning_rate=0.01).learning_rate == 0.01


def test_config_round_trips_through_json():
    assert_config_round_trips(AdaBelief(lr=0.01, betas=(0.8, 0.9), rectify=True, weight_decay=0.1))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"betas": (1.0, 0.999)}, "betas"),
        ({"betas": (0.9, 1.5)}, "betas"),
        ({"betas": (0.9, 0.999, 0.9)}, "betas"),
        ({"eps": -1e-8}, "eps"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -0.1}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        AdaBelief(**kwargs)
