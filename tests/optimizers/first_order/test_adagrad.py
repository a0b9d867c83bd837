"""AdaGrad (Algorithm 8.4) against the book, torch.optim and Keras's convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optimizers._harness import (
    BODIES_AND_FUSED,
    STEPS,
    assert_follows,
    assert_matches_torch,
    book_problems,
    iterates,
)
from reference import chapter8

from deepdescent.optimizers.first_order.adagrad import Adagrad


@pytest.mark.parametrize("impl", BODIES_AND_FUSED)
@pytest.mark.parametrize(("f", "theta0", "lr"), book_problems((0.1, 0.03)))
def test_algorithm_8_4_follows_the_book(f, theta0, lr, impl):
    reference = chapter8.adagrad(theta0, lambda t: f(t)[1], lr, 1e-7, STEPS)
    assert_follows(iterates(lambda p: Adagrad(p, lr=lr, **impl), f, theta0), reference)
    assert f(reference[-1])[0] < 0.75 * f(theta0)[0]


def test_keras_convention_by_flags():
    """Keras: r starts at 0.1 and the step divides by √(r + δ)."""
    f, theta = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    r, reference = np.full_like(theta, 0.1), [theta]
    for _ in range(STEPS):
        g = f(theta)[1]
        r = r + g * g
        theta = theta - 0.1 * g / np.sqrt(r + 1e-7)
        reference.append(theta)
    config = {"lr": 0.1, "initial_accumulator_value": 0.1, "eps_inside_sqrt": True}
    assert_follows(iterates(lambda p: Adagrad(p, **config), f, reference[0]), reference)


CONFIGS = [
    {"lr": 0.1, "eps": 1e-10},
    {"lr": 0.1, "eps": 1e-6, "lr_decay": 0.05},
    {"lr": 0.1, "eps": 1e-10, "initial_accumulator_value": 0.5},
    {"lr": 0.1, "eps": 1e-10, "lr_decay": 0.01, "weight_decay": 0.1},
]


@pytest.mark.parametrize("impl", BODIES_AND_FUSED)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_optim(config, impl):
    """Float32, 30 steps; the middle tensor sits out every third step, so the step counts
    that drive ``lr_decay`` differ between parameters."""
    assert_matches_torch(
        lambda p: Adagrad(p, **config, **impl),
        lambda p: torch.optim.Adagrad(p, **config),
        idle_phase=0,
    )


@pytest.mark.parametrize("decoupled", [False, True])
def test_fused_kernel_runs_and_applies_weight_decay_once(monkeypatch, decoupled):
    calls = []
    kernel = torch._fused_adagrad_
    monkeypatch.setattr(
        torch, "_fused_adagrad_", lambda *a, **k: calls.append(1) or kernel(*a, **k)
    )
    config = {"lr": 0.1, "weight_decay": 0.3, "decoupled_weight_decay": decoupled}
    f, theta0 = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    fused = iterates(lambda p: Adagrad(p, **config), f, theta0, steps=20)
    assert len(calls) == 20
    loop = iterates(lambda p: Adagrad(p, **config, foreach=False, fused=False), f, theta0, 20)
    assert_follows(fused, loop)


def test_defaults():
    group = Adagrad([torch.zeros(2, requires_grad=True)]).param_groups[0]
    assert (group["lr"], group["eps"], group["initial_accumulator_value"]) == (0.001, 1e-7, 0.0)
    assert not group["eps_inside_sqrt"]
    assert Adagrad(learning_rate=0.05).learning_rate == 0.05


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"lr": -1.0}, "lr"),
        ({"lr_decay": -0.1}, "lr_decay"),
        ({"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
        ({"eps": -1e-8}, "eps"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        Adagrad(**kwargs)
