"""RAdam (Liu et al. 2020, Algorithm 2) against torch.optim's RAdam and the paper."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from reference import chapter8, radam

from deepdescent.optimizers.radam import RAdam, rectification

IMPLEMENTATIONS = [
    pytest.param({"foreach": False}, id="per-tensor"),
    pytest.param({"foreach": True}, id="foreach"),
]
CONFIGS = [
    {"lr": 0.05},
    {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-6},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True},
]


def _run_side_by_side(ours_cls, theirs_cls, config, impl, steps=30):
    """Both optimizers on sin(θ)θ² summed over three tensors; the second tensor has no
    gradient every third step, so step counts differ between tensors (and straddle the
    rectification threshold)."""
    torch.manual_seed(0)
    ours = [torch.randn(shape, requires_grad=True) for shape in [(5, 3), (3,), (2, 2, 2)]]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    runs = [(ours, ours_cls(ours, **config, **impl)), (theirs, theirs_cls(theirs, **config))]
    for k in range(steps):
        for params, optimizer in runs:
            optimizer.zero_grad()
            sum((torch.sin(p) * p.pow(2)).sum() for p in params).backward()
            if k % 3 == 2:
                params[1].grad = None
            optimizer.step()
    return ours, theirs


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_optim(config, impl):
    ours, theirs = _run_side_by_side(RAdam, torch.optim.RAdam, config, impl)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_algorithm_2_follows_the_paper(impl):
    """With δ = 0 the update is the paper's, at torch.optim's threshold ρ_t > 5."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    f, theta0 = chapter8.tiny_network(x, y, hidden=4), rng.normal(scale=0.5, size=26)
    reference = radam.radam(theta0, lambda t: f(t)[1], 0.03, (0.9, 0.999), 100, threshold=5.0)
    theta = torch.tensor(theta0, requires_grad=True)
    optimizer = RAdam([theta], lr=0.03, eps=0.0, **impl)
    for k in range(100):
        theta.grad = torch.from_numpy(f(theta.detach().numpy())[1])
        optimizer.step()
        np.testing.assert_allclose(theta.detach().numpy(), reference[k + 1], rtol=1e-10)
    assert f(reference[-1])[0] < 0.75 * f(theta0)[0]


def test_rectification_starts_after_the_fifth_step():
    """ρ₂ = 0.999: ρ_5 ≈ 4.99 and ρ_6 ≈ 5.99, so the adaptive step starts at t = 6."""
    assert [rectification(t, 0.999) is None for t in range(1, 8)] == [True] * 5 + [False] * 2
    assert rectification(10**6, 0.999) == pytest.approx(1.0, abs=1e-9)


def test_defaults_and_keras_names():
    assert RAdam().learning_rate == 1e-3
    assert RAdam(learning_rate=0.01).learning_rate == 0.01


def test_config_round_trips_through_json():
    original = RAdam(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, decoupled_weight_decay=True)
    config = json.loads(json.dumps(original.get_config()))
    assert RAdam(**config).get_config() == original.get_config()


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"betas": (1.0, 0.999)}, "betas"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"eps": -1.0}, "eps"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"fused": True}, "fused"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        RAdam(**kwargs)
