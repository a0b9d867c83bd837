"""AdaBelief (Zhuang et al. 2020, Algorithm 2) against a NumPy transcription of the paper."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from reference import chapter8
from reference.adabelief import adabelief

from deepdescent.optimizers.adabelief import AdaBelief

IMPLEMENTATIONS = [
    pytest.param({"foreach": False}, id="per-tensor"),
    pytest.param({"foreach": True}, id="foreach"),
]
STEPS = 100


def _problems():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    yield "ill_conditioned", chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    yield "tiny_network", chapter8.tiny_network(x, y, hidden=4), rng.normal(scale=0.5, size=26)


PROBLEMS = [pytest.param(f, theta0, id=name) for name, f, theta0 in _problems()]
CONFIGS = [
    {"lr": 0.03, "betas": (0.9, 0.999), "eps": 1e-16},
    {"lr": 0.03, "betas": (0.8, 0.99), "eps": 1e-8},
    {"lr": 0.03, "betas": (0.9, 0.999), "eps": 1e-8, "rectify": True},
    {"lr": 0.03, "betas": (0.9, 0.999), "eps": 1e-16, "weight_decay": 0.1},
]


def _options(config):
    """The reference's arguments as the optimizer's (its weight decay is decoupled)."""
    return {**config, "decoupled_weight_decay": True}


def _run_ours(f, theta0, steps, **options):
    """Iterates of deepdescent's AdaBelief on f, fed the reference's hand-derived gradient,
    in two tensors so that the multi-tensor body has a list to work on."""
    head = torch.tensor(theta0[:4], dtype=torch.float64, requires_grad=True)
    tail = torch.tensor(theta0[4:], dtype=torch.float64, requires_grad=True)
    optimizer = AdaBelief([head, tail], **options)
    path = [theta0.copy()]
    for _ in range(steps):
        grad = torch.from_numpy(f(torch.cat([head, tail]).detach().numpy())[1])
        head.grad, tail.grad = grad[:4].clone(), grad[4:].clone()
        optimizer.step()
        path.append(torch.cat([head, tail]).detach().numpy().copy())
    return path


def _assert_paths_close(ours, reference, rtol=1e-10):
    for k, (a, b) in enumerate(zip(ours, reference, strict=True)):
        assert np.abs(a - b).max() <= rtol * max(np.abs(b).max(), 1e-12), f"iterate {k} differs"


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize(("f", "theta0"), PROBLEMS)
def test_algorithm_2_follows_the_paper(f, theta0, config, impl):
    reference = adabelief(theta0, lambda t: f(t)[1], steps=STEPS, **config)
    _assert_paths_close(_run_ours(f, theta0, STEPS, **_options(config), **impl), reference)
    assert f(reference[-1])[0] < 0.75 * f(theta0)[0]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
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


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
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
    original = AdaBelief(lr=0.01, betas=(0.8, 0.9), rectify=True, weight_decay=0.1)
    config = json.loads(json.dumps(original.get_config()))
    assert AdaBelief(**config).get_config() == original.get_config()


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"betas": (1.0, 0.999)}, "betas"),
        ({"betas": (0.9, 1.5)}, "betas"),
        ({"betas": (0.9, 0.999, 0.9)}, "betas"),
        ({"eps": -1e-8}, "eps"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"fused": True}, "fused"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        AdaBelief(**kwargs)
