"""Adam (Algorithm 8.7), AMSGrad and AdamW against the book, torch.optim and Keras's ε̂."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from reference import chapter8

from deepdescent.optimizers.adam import Adam, AdamW

IMPLEMENTATIONS = [
    pytest.param({"foreach": False, "fused": False}, id="per-tensor"),
    pytest.param({"fused": False}, id="foreach"),
    pytest.param({}, id="fused"),
]
STEPS = 100


def _problems(ill_lr, net_lr):
    """The two test problems, each with a learning rate at which the iterates are not
    chaotic (a small change in θ₀ grows at most tenfold over 100 steps)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    net = chapter8.tiny_network(x, y, hidden=4)
    theta0 = np.linspace(-1.0, 1.2, 6)
    yield pytest.param(chapter8.ill_conditioned, theta0, ill_lr, id="ill_conditioned")
    yield pytest.param(net, rng.normal(scale=0.5, size=26), net_lr, id="tiny_network")


def _iterates(optimizer_for, f, theta0, steps=STEPS):
    """float64 iterates with f's hand-derived gradient (only the update rule is tested)."""
    theta = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_for([theta])
    path = [theta0.copy()]
    for _ in range(steps):
        theta.grad = torch.from_numpy(f(theta.detach().numpy())[1])
        optimizer.step()
        path.append(theta.detach().numpy().copy())
    return np.array(path)


def _assert_follows(ours, reference, rtol=1e-10):
    reference = np.array(reference)
    error = np.abs(ours - reference).max(axis=1)
    assert (error <= rtol * np.abs(reference).max(axis=1)).all(), f"max error {error.max():.2e}"


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(("f", "theta0", "lr"), list(_problems(0.01, 0.01)))
def test_algorithm_8_7_follows_the_book(f, theta0, lr, impl):
    reference = chapter8.adam(theta0, lambda t: f(t)[1], STEPS, lr=lr)
    _assert_follows(_iterates(lambda p: Adam(p, lr=lr, **impl), f, theta0), reference)
    assert f(reference[-1])[0] < 0.75 * f(theta0)[0]


def test_defaults_are_the_books():
    group = Adam([torch.zeros(2, requires_grad=True)]).param_groups[0]
    assert (group["lr"], group["betas"], group["eps"]) == (0.001, (0.9, 0.999), 1e-8)
    assert not (group["amsgrad"] or group["eps_hat"] or group["decoupled_weight_decay"])
    f, theta0 = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    _assert_follows(_iterates(Adam, f, theta0), chapter8.adam(theta0, lambda t: f(t)[1], STEPS))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
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
    _assert_follows(_iterates(lambda p: Adam(p, **config, **impl), f, reference[0]), reference)


CASES = [
    (Adam, torch.optim.Adam, {"lr": 0.01}),
    (Adam, torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-3, "amsgrad": True}),
    (Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1}),
    (Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    (AdamW, torch.optim.AdamW, {"lr": 0.01}),
    (AdamW, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True}),
]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(("ours_cls", "torch_cls", "config"), CASES, ids=str)
def test_matches_torch_optim(ours_cls, torch_cls, config, impl):
    """Float32, 30 steps; the middle tensor sits out every third step, so the step counts
    of the bias corrections differ between parameters."""
    torch.manual_seed(0)
    ours = [torch.randn(s, requires_grad=True) for s in [(5, 3), (3,), (2, 2, 2)]]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    runs = [(ours, ours_cls(ours, **config, **impl)), (theirs, torch_cls(theirs, **config))]
    for k in range(30):
        for params, optimizer in runs:
            optimizer.zero_grad()
            active = params if k % 3 else params[::2]
            sum((torch.sin(p) * p.pow(2)).sum() for p in active).backward()
            optimizer.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


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
    fused = _iterates(lambda p: Adam(p, **config), f, theta0, steps=20)
    assert len(calls) == 20
    loop = _iterates(lambda p: Adam(p, **config, foreach=False, fused=False), f, theta0, 20)
    _assert_follows(fused, loop)


def test_adamw_is_adam_with_decoupled_decay():
    config = AdamW(lr=0.01).get_config()
    assert config["weight_decay"] == 0.01 and config["decoupled_weight_decay"]
    f, theta0 = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    adam = _iterates(
        lambda p: Adam(p, lr=0.01, weight_decay=0.01, decoupled_weight_decay=True), f, theta0
    )
    np.testing.assert_array_equal(_iterates(lambda p: AdamW(p, lr=0.01), f, theta0), adam)


def test_config_survives_json():
    optimizer = Adam(learning_rate=0.05, betas=(0.8, 0.9), amsgrad=True)
    rebuilt = Adam(**json.loads(json.dumps(optimizer.get_config())))
    assert rebuilt.get_config() == optimizer.get_config()


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
