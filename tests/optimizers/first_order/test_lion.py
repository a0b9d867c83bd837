"""Lion (Chen et al. 2023, Algorithm 2) against a NumPy transcription of the paper."""

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
from reference.lion import lion

from deepdescent.optimizers.first_order.lion import Lion

CONFIGS = [
    {"lr": 0.03, "betas": (0.9, 0.99), "weight_decay": 0.0},
    {"lr": 0.03, "betas": (0.95, 0.98), "weight_decay": 0.5},
]


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize(("f", "theta0"), book_problems())
def test_algorithm_2_follows_the_paper(f, theta0, config, impl):
    reference = lion(theta0, lambda t: f(t)[1], steps=STEPS, **config)
    assert_follows(iterates(lambda p: Lion(p, **config, **impl), f, theta0, split=4), reference)
    assert f(reference[-1])[0] < 0.5 * f(theta0)[0]


def test_every_coordinate_moves_by_the_learning_rate():
    """Without decay, |Δθ| = η exactly wherever the interpolated momentum is nonzero."""
    theta = torch.tensor([3.0, -2.0, 1e-3, 0.0], dtype=torch.float64, requires_grad=True)
    optimizer = Lion([theta], lr=0.25)
    theta.grad = torch.tensor([5.0, -1e-6, 100.0, 0.0], dtype=torch.float64)
    optimizer.step()
    torch.testing.assert_close(theta.detach(), torch.tensor([2.75, -1.75, -0.249, 0.0]).double())


def test_coupled_weight_decay_adds_to_the_gradient():
    theta = torch.tensor([2.0, -2.0], dtype=torch.float64, requires_grad=True)
    optimizer = Lion([theta], lr=0.1, weight_decay=1.0, decoupled_weight_decay=False)
    theta.grad = torch.tensor([-1.0, -1.0], dtype=torch.float64)  # g + λθ = [1, -3]
    optimizer.step()
    torch.testing.assert_close(theta.detach(), torch.tensor([1.9, -1.9]).double())


def test_defaults_are_the_papers_and_keras_names_work():
    optimizer = Lion()
    assert optimizer.learning_rate == 1e-4
    assert optimizer.get_config()["betas"] == (0.9, 0.99)
    assert optimizer.get_config()["decoupled_weight_decay"] is True
    assert Lion(learning_rate=3e-4).learning_rate == 3e-4


def test_config_round_trips_through_json():
    assert_config_round_trips(Lion(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"betas": 0.9}, "betas"),
        ({"betas": (1.0, 0.99)}, "betas"),
        ({"betas": (0.9, -0.1)}, "betas"),
        ({"betas": (0.9,)}, "betas"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -0.1}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        Lion(**kwargs)
