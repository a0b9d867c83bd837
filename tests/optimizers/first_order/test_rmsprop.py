"""RMSProp (Algorithm 8.5) and RMSProp with Nesterov momentum (Algorithm 8.6) against the
book, torch.optim and Keras's update."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optimizers._harness import (
    BODIES,
    STEPS,
    assert_follows,
    assert_matches_torch,
    book_problems,
    iterates,
)
from reference import chapter8

from deepdescent.optimizers.first_order.rmsprop import RMSprop

# No fused kernel: the default runs the multi-tensor body.
IMPLEMENTATIONS = [*BODIES, pytest.param({}, id="default")]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(("f", "theta0", "lr"), book_problems((0.01, 0.003)))
def test_algorithm_8_5_follows_the_book(f, theta0, lr, impl):
    reference = chapter8.rmsprop(theta0, lambda t: f(t)[1], lr, 0.9, 1e-6, STEPS)
    assert_follows(iterates(lambda p: RMSprop(p, lr=lr, **impl), f, theta0), reference)
    assert f(reference[-1])[0] < 0.75 * f(theta0)[0]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(("f", "theta0", "lr"), book_problems((0.003, 0.001)))
def test_algorithm_8_6_nesterov_stores_the_look_ahead_point(f, theta0, lr, impl):
    """The book's 8.6 has no δ, so eps=0; the parameters hold θ̃ = θ + αv."""
    path, velocities = chapter8.rmsprop_nesterov(theta0, lambda t: f(t)[1], lr, 0.9, 0.9, STEPS)
    look_ahead = [t + 0.9 * v for t, v in zip(path, velocities, strict=True)]
    config = {"lr": lr, "alpha": 0.9, "eps": 0.0, "momentum": 0.9, "nesterov": True}
    assert_follows(iterates(lambda p: RMSprop(p, **config, **impl), f, theta0), look_ahead)
    assert f(path[-1])[0] < 0.75 * f(theta0)[0]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_keras_centered_momentum_update(impl):
    """Keras 3's RMSprop written out: δ inside the root, momentum in units of ε g."""
    f, theta = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    lr, rho, mu, eps = 0.003, 0.9, 0.5, 1e-7
    r, mean, velocity = (np.zeros_like(theta) for _ in range(3))
    reference = [theta]
    for _ in range(STEPS):
        g = f(theta)[1]
        r = rho * r + (1 - rho) * g * g
        mean = rho * mean + (1 - rho) * g
        velocity = mu * velocity + lr * g / np.sqrt(r - mean * mean + eps)
        theta = theta - velocity
        reference.append(theta)
    config = {"lr": lr, "alpha": rho, "eps": eps, "momentum": mu, "centered": True}
    assert_follows(iterates(lambda p: RMSprop(p, **config, **impl), f, reference[0]), reference)


CONFIGS = [
    {"lr": 0.01, "alpha": 0.99, "eps": 1e-8},
    {"lr": 0.01, "alpha": 0.9, "eps": 1e-3, "centered": True},
    {"lr": 0.01, "alpha": 0.9, "eps": 1e-8, "momentum": 0.9},
    {"lr": 0.01, "alpha": 0.95, "eps": 1e-6, "momentum": 0.5, "centered": True},
    {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "momentum": 0.5, "weight_decay": 0.1},
]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_optim(config, impl):
    """With torch's √r + δ, float32, 30 steps; the middle tensor sits out every third step."""
    assert_matches_torch(
        lambda p: RMSprop(p, **config, eps_inside_sqrt=False, **impl),
        lambda p: torch.optim.RMSprop(p, **config),
        idle_phase=0,
    )


def test_defaults():
    group = RMSprop([torch.zeros(2, requires_grad=True)]).param_groups[0]
    assert (group["lr"], group["alpha"], group["eps"], group["momentum"]) == (0.001, 0.9, 1e-6, 0)
    assert group["eps_inside_sqrt"] and not group["centered"] and not group["nesterov"]
    assert RMSprop(learning_rate=0.05).learning_rate == 0.05


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"lr": -1.0}, "lr"),
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"eps": -1e-8}, "eps"),
        ({"momentum": 1.0}, "momentum"),
        ({"nesterov": True}, "nesterov"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        RMSprop(**kwargs)
