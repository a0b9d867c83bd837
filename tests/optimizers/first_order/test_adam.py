"""Adam (Algorithm 8.7), AMSGrad and AdamW against the book, torch.optim and Keras's ε̂."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optimizers._harness import (
    BODIES_AND_FUSED,
    STEPS,
    assert_config_round_trips,
    assert_follows,
    assert_matches_torch,
    book_problems,
    iterates,
)
from reference import chapter8

from deepdescent.optimizers.first_order.adam import Adam, AdamW


@pytest.mark.parametrize("impl", BODIES_AND_FUSED)
@pytest.mark.parametrize(("f", "theta0", "lr"), book_problems((0.01, 0.01)))
def test_algorithm_8_7_follows_the_book(f, theta0, lr, impl):
    reference = chapter8.adam(theta0, lambda t: f(t)[1], STEPS, lr=lr)
    assert_follows(iterates(lambda p: Adam(p, lr=lr, **impl), f, theta0), reference)
    assert f(reference[-1])[0] < 0.75 * f(theta0)[0]


def test_defaults_are_the_books():
    group = Adam([torch.zeros(2, requires_grad=True)]).param_groups[0]
    assert (group["lr"], group["betas"], group["eps"]) == (0.001, (0.9, 0.999), 1e-8)
    assert not (group["amsgrad"] or group["eps_hat"] or group["decoupled_weight_decay"])
    f, theta0 = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    assert_follows(iterates(Adam, f, theta0), chapter8.adam(theta0, lambda t: f(t)[1], STEPS))


@pytest.mark.parametrize("impl", BODIES_AND_FUSED)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_keras_epsilon_hat(amsgrad, impl):
    """Keras 3's Adam written out: ε̂ added to √v, the bias corrections folded into ε."""
    f, theta = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-3
    m, v, v_max, reference = np.zeros(6), np.zeros(6), np.zeros(6), [theta]
    for t in range(1, STEPS + 1):
        g = f(theta)[1]
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        v_max = np.maximum(v_max, v)
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        theta = theta - m * alpha / (np.sqrt(v_max if amsgrad else v) + eps)
        reference.append(theta)
    config = {"lr": lr, "eps": eps, "amsgrad": amsgrad, "eps_hat": True}
    assert_follows(iterates(lambda p: Adam(p, **config, **impl), f, reference[0]), reference)


CASES = [
    (Adam, torch.optim.Adam, {"lr": 0.01}),
    (Adam, torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-3, "amsgrad": True}),
    (Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1}),
    (Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    (AdamW, torch.optim.AdamW, {"lr": 0.01}),
    (AdamW, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True}),
]


@pytest.mark.parametrize("impl", BODIES_AND_FUSED)
@pytest.mark.parametrize(("ours_cls", "torch_cls", "config"), CASES, ids=str)
def test_matches_torch_optim(ours_cls, torch_cls, config, impl):
    """Float32, 30 steps; the middle tensor sits out every third step, so the step counts
    of the bias corrections differ between parameters."""
    assert_matches_torch(
        lambda p: ours_cls(p, **config, **impl), lambda p: torch_cls(p, **config), idle_phase=0
    )


@pytest.mark.parametrize(
    ("name", "config"),
    [("_fused_adam_", {"weight_decay": 0.2}), ("_fused_adamw_", {"decoupled_weight_decay": True})],
)
def test_fused_kernel_runs_and_applies_weight_decay_once(monkeypatch, name, config):
    calls = []
    kernel = getattr(torch, name)
    monkeypatch.setattr(torch, name, lambda *a, **k: calls.append(1) or kernel(*a, **k))
    config = {"lr": 0.01, "weight_decay": 0.2, **config}
    f, theta0 = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    fused = iterates(lambda p: Adam(p, **config), f, theta0, steps=20)
    assert len(calls) == 20
    loop = iterates(lambda p: Adam(p, **config, foreach=False, fused=False), f, theta0, 20)
    assert_follows(fused, loop)


def test_adamw_is_adam_with_decoupled_decay():
    config = AdamW(lr=0.01).get_config()
    assert config["weight_decay"] == 0.01 and config["decoupled_weight_decay"]
    f, theta0 = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    adam = iterates(
        lambda p: Adam(p, lr=0.01, weight_decay=0.01, decoupled_weight_decay=True), f, theta0
    )
    np.testing.assert_array_equal(iterates(lambda p: AdamW(p, lr=0.01), f, theta0), adam)


def test_config_survives_json():
    assert_config_round_trips(Adam(learning_rate=0.05, betas=(0.8, 0.9), amsgrad=True))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"lr": -1.0}, "lr"),
        ({"betas": (1.0, 0.999)}, "betas"),
        ({"betas": (0.9, -0.1)}, "betas"),
        ({"betas": (0.9,)}, "betas"),
        ({"eps": -1e-8}, "eps"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_invalid_hyperparameters_name_the_argument(cls, kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        cls(**kwargs)
