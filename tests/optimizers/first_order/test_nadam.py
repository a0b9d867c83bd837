"""NAdam (Dozat 2016) against torch.optim's NAdam and Keras's documented Nadam update."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optimizers._harness import BODIES, assert_config_round_trips, assert_matches_torch, iterates
from reference import chapter8

from deepdescent.optimizers.first_order.nadam import NAdam

CONFIGS = [
    {"lr": 0.05},
    {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.05, "momentum_decay": 1.0},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True},
]


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_optim(config, impl):
    """The second tensor has no gradient every third step, so step counts differ."""
    assert_matches_torch(
        lambda p: NAdam(p, **config, **impl), lambda p: torch.optim.NAdam(p, **config)
    )


@pytest.mark.parametrize("impl", BODIES)
def test_matches_torch_optim_to_rounding_in_float64(impl):
    """torch keeps Π μ_i in a scalar tensor of the default dtype (float32 normally), this
    module in a Python float; with float64 scalars the two agree to rounding, even on a
    tensor whose elements pass the degenerate critical point of sin(θ)θ² at 0, where
    float32's rounding of Π μ_i alone moves iterates by 1e-2."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    config = {"lr": 0.05, "weight_decay": 0.1}
    try:
        assert_matches_torch(
            lambda p: NAdam(p, **config, **impl),
            lambda p: torch.optim.NAdam(p, **config),
            rtol=1e-8,
            atol=1e-8,
            shapes=[(50, 30), (3,)],
        )
    finally:
        torch.set_default_dtype(previous)


def _keras_nadam(theta, grad, lr, betas, eps, steps):
    """Keras 3's Nadam update as its source documents it: the schedule u_t = β1(1 − ½·0.96ᵗ)."""
    beta1, beta2 = betas
    m, v, u_product = np.zeros_like(theta), np.zeros_like(theta), 1.0
    path = [theta.copy()]
    for t in range(1, steps + 1):
        g = grad(theta)
        u_t, u_next = beta1 * (1 - 0.5 * 0.96**t), beta1 * (1 - 0.5 * 0.96 ** (t + 1))
        u_product *= u_t
        m += (g - m) * (1 - beta1)
        v += (g * g - v) * (1 - beta2)
        m_hat = u_next * m / (1 - u_product * u_next) + (1 - u_t) * g / (1 - u_product)
        theta = theta - lr * m_hat / (np.sqrt(v / (1 - beta2**t)) + eps)
        path.append(theta.copy())
    return path


@pytest.mark.parametrize("impl", BODIES)
def test_momentum_decay_one_is_keras_nadam(impl):
    theta0, f = np.linspace(-1.0, 1.2, 6), chapter8.ill_conditioned
    reference = _keras_nadam(theta0, lambda t: f(t)[1], 0.03, (0.9, 0.999), 1e-7, 100)
    ours = iterates(lambda p: NAdam(p, lr=0.03, eps=1e-7, momentum_decay=1.0, **impl), f, theta0)
    np.testing.assert_allclose(ours, reference, rtol=1e-10)
    assert f(reference[-1])[0] < 0.5 * f(theta0)[0]


def test_defaults_and_keras_names():
    assert NAdam().learning_rate == 1e-3
    assert NAdam().get_config()["momentum_decay"] == 4e-3
    assert NAdam(learning_rate=0.01).learning_rate == 0.01


def test_config_round_trips_through_json():
    assert_config_round_trips(
        NAdam(lr=0.01, betas=(0.8, 0.9), momentum_decay=1.0, weight_decay=0.1)
    )


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"betas": 0.9}, "betas"),
        ({"betas": (1.0, 0.999)}, "betas"),
        ({"betas": (0.9, -0.5)}, "betas"),
        ({"eps": -1.0}, "eps"),
        ({"momentum_decay": -0.1}, "momentum_decay"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        NAdam(**kwargs)
