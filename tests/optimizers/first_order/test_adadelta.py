"""AdaDelta (Zeiler 2012, Algorithm 1) against torch.optim's Adadelta and the paper."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optimizers._harness import BODIES, assert_config_round_trips, assert_matches_torch, iterates
from reference import chapter8

from deepdescent.optimizers.first_order.adadelta import Adadelta

CONFIGS = [
    {"lr": 1.0},
    {"lr": 0.5, "rho": 0.8, "eps": 1e-4},
    {"lr": 1.0, "weight_decay": 0.1},
]


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_optim(config, impl):
    """The second tensor has no gradient every third step, so step counts differ."""
    assert_matches_torch(
        lambda p: Adadelta(p, **config, **impl), lambda p: torch.optim.Adadelta(p, **config)
    )


def _zeiler_algorithm_1(theta, grad, rho, eps, steps):
    """Algorithm 1 as printed: RMS[y] = √(E[y²] + ε), Δx = −RMS[Δx]_{t−1}/RMS[g]_t · g."""
    eg2, edx2 = np.zeros_like(theta), np.zeros_like(theta)
    path = [theta.copy()]
    for _ in range(steps):
        g = grad(theta)
        eg2 = rho * eg2 + (1 - rho) * g**2
        dx = -np.sqrt(edx2 + eps) / np.sqrt(eg2 + eps) * g
        edx2 = rho * edx2 + (1 - rho) * dx**2
        theta = theta + dx
        path.append(theta.copy())
    return path


@pytest.mark.parametrize("impl", BODIES)
def test_lr_one_is_zeilers_algorithm_1(impl):
    theta0, f = np.linspace(-1.0, 1.2, 6), chapter8.ill_conditioned
    reference = _zeiler_algorithm_1(theta0, lambda t: f(t)[1], 0.95, 1e-3, 100)
    ours = iterates(lambda p: Adadelta(p, lr=1.0, rho=0.95, eps=1e-3, **impl), f, theta0)
    np.testing.assert_allclose(ours, reference, rtol=1e-10)
    assert f(reference[-1])[0] < 0.5 * f(theta0)[0]


def test_defaults_are_the_papers_lr_and_torch_rho_eps():
    config = Adadelta().get_config()
    assert (config["lr"], config["rho"], config["eps"]) == (1.0, 0.9, 1e-6)
    assert Adadelta(learning_rate=1.0).learning_rate == 1.0


def test_config_round_trips_through_json():
    assert_config_round_trips(Adadelta(lr=1.0, rho=0.95, eps=1e-7, weight_decay=0.1))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"rho": -0.1}, "rho"),
        ({"rho": 1.5}, "rho"),
        ({"eps": 0.0}, "eps"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        Adadelta(**kwargs)
