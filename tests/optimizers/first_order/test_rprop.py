"""iRprop⁻ (Riedmiller & Braun 1993; Igel & Hüsken 2000) against torch.optim's Rprop."""

from __future__ import annotations

import pytest
import torch
from optimizers._harness import (
    BODIES,
    assert_config_round_trips,
    assert_matches_torch,
    run_side_by_side,
)

from deepdescent.optimizers.first_order.rprop import Rprop

CONFIGS = [
    {"lr": 0.01},
    {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2)},
]


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_optim(config, impl):
    """The second tensor has no gradient every third step, so step counts differ."""
    assert_matches_torch(
        lambda p: Rprop(p, **config, **impl), lambda p: torch.optim.Rprop(p, **config)
    )


@pytest.mark.parametrize("impl", BODIES)
def test_matches_torch_optim_exactly_in_float64(impl):
    """Only signs, products by η and clamps: no rounding differs, so iterates are equal."""
    ours, theirs = run_side_by_side(
        lambda p: Rprop(p, **CONFIGS[1], **impl),
        lambda p: torch.optim.Rprop(p, **CONFIGS[1]),
        steps=60,
        dtype=torch.float64,
    )
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("impl", BODIES)
def test_step_sizes_grow_shrink_and_forget_a_flipped_gradient(impl):
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = Rprop([theta], lr=0.1, etas=(0.5, 2.0), step_sizes=(0.04, 0.3), **impl)
    for grad in ([1.0, 1.0, -1.0], [1.0, -1.0, -1.0], [1.0, 1.0, -1.0], [1.0, 1.0, -1.0]):
        theta.grad = torch.tensor(grad, dtype=torch.float64)
        optimizer.step()
    # coordinate 0: Δ = 0.1, 0.2, 0.3 (clamped), 0.3.  coordinate 1: 0.1; then a flip:
    # Δ = 0.05 with no step and g⁻ = 0; then Δ stays 0.05 (no sign to compare), then 0.1.
    # coordinate 2: 0.1, 0.2, 0.3, 0.3 upward.
    expected = [-(0.1 + 0.2 + 0.3 + 0.3), -0.1 - 0.05 - 0.1, 0.1 + 0.2 + 0.3 + 0.3]
    torch.testing.assert_close(theta.detach(), torch.tensor(expected, dtype=torch.float64))
    step_size = optimizer.state[theta]["step_size"]
    torch.testing.assert_close(step_size, torch.tensor([0.3, 0.1, 0.3], dtype=torch.float64))


def test_defaults_are_torchs():
    config = Rprop().get_config()
    assert (config["lr"], config["etas"], config["step_sizes"]) == (0.01, (0.5, 1.2), (1e-6, 50.0))
    assert Rprop(learning_rate=0.1).learning_rate == 0.1


def test_config_round_trips_through_json():
    assert_config_round_trips(Rprop(lr=0.1, etas=(0.4, 1.3), step_sizes=(1e-4, 1.0)))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"etas": (1.0, 1.2)}, "etas"),
        ({"etas": (0.5, 1.0)}, "etas"),
        ({"etas": (0.0, 1.2)}, "etas"),
        ({"step_sizes": (-1e-6, 50.0)}, "step_sizes"),
        ({"step_sizes": (1.0, 0.5)}, "step_sizes"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        Rprop(**kwargs)
