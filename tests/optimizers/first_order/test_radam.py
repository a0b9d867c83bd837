"""RAdam (Liu et al. 2020, Algorithm 2) against torch.optim's RAdam and the paper."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optimizers._harness import (
    BODIES,
    STEPS,
    assert_config_round_trips,
    assert_matches_torch,
    iterates,
)
from reference import layers, radam

from deepdescent.optimizers.first_order.radam import RAdam, rectification

CONFIGS = [
    {"lr": 0.05},
    {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-6},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True},
]


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_optim(config, impl):
    """The second tensor has no gradient every third step, so step counts differ between
    tensors (and straddle the rectification threshold)."""
    assert_matches_torch(
        lambda p: RAdam(p, **config, **impl), lambda p: torch.optim.RAdam(p, **config)
    )


@pytest.mark.parametrize("impl", BODIES)
def test_algorithm_2_follows_the_paper(impl):
    """With δ = 0 the update is the paper's, at torch.optim's threshold ρ_t > 5."""
    network = layers.problems()[1]
    f, theta0 = network.loss_and_grad, network.theta0
    reference = radam.radam(theta0, lambda t: f(t)[1], 0.03, (0.9, 0.999), STEPS, threshold=5.0)
    ours = iterates(lambda p: RAdam(p, lr=0.03, eps=0.0, **impl), f, theta0)
    np.testing.assert_allclose(ours, reference, rtol=1e-10)
    assert f(reference[-1])[0] < 0.75 * f(theta0)[0]


def test_rectification_starts_after_the_fifth_step():
    """ρ₂ = 0.999: ρ_5 ≈ 4.99 and ρ_6 ≈ 5.99, so the adaptive step starts at t = 6."""
    assert [rectification(t, 0.999) is None for t in range(1, 8)] == [True] * 5 + [False] * 2
    assert rectification(10**6, 0.999) == pytest.approx(1.0, abs=1e-9)


def test_defaults_and_keras_names():
    assert RAdam().learning_rate == 1e-3
    assert RAdam(learning_rate=0.01).learning_rate == 0.01


def test_config_round_trips_through_json():
    assert_config_round_trips(
        RAdam(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, decoupled_weight_decay=True)
    )


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"betas": (1.0, 0.999)}, "betas"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"eps": -1.0}, "eps"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        RAdam(**kwargs)
