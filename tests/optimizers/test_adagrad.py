"""AdaGrad (Algorithm 8.4) against the book, torch.optim and Keras's convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import chapter8

from deepdescent.optimizers.adagrad import Adagrad

IMPLEMENTATIONS = [
    pytest.param({"foreach": False, "fused": False}, id="per-tensor"),
    pytest.param({"fused": False}, id="foreach"),
    pytest.param({}, id="fused"),
]
STEPS = 100


def _problems(ill_lr, net_lr):
    """The two test problems, each with a learning rate at which the iterates are not
    chaotic (a small change in θ₀ grows at most tenfold over 100 steps), so that 1e-10 is a
    fair tolerance."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    net = chapter8.tiny_network(x, y, hidden=4)
    theta0 = np.linspace(-1.0, 1.2, 6)
    yield pytest.param(chapter8.ill_conditioned, theta0, ill_lr, id="ill_conditioned")
    yield pytest.param(net, rng.normal(scale=0.5, size=26), net_lr, id="tiny_network")


def _iterates(optimizer_for, f, theta0, steps=STEPS):
    """float64 iterates of ``optimizer_for([θ])`` with f's hand-derived gradient, so only
    the update rule is under test."""
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
@pytest.mark.parametrize(("f", "theta0", "lr"), list(_problems(0.1, 0.03)))
def test_algorithm_8_4_follows_the_book(f, theta0, lr, impl):
    reference = chapter8.adagrad(theta0, lambda t: f(t)[1], lr, 1e-7, STEPS)
    _assert_follows(_iterates(lambda p: Adagrad(p, lr=lr, **impl), f, theta0), reference)
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
    _assert_follows(_iterates(lambda p: Adagrad(p, **config), f, reference[0]), reference)


CONFIGS = [
    {"lr": 0.1, "eps": 1e-10},
    {"lr": 0.1, "eps": 1e-6, "lr_decay": 0.05},
    {"lr": 0.1, "eps": 1e-10, "initial_accumulator_value": 0.5},
    {"lr": 0.1, "eps": 1e-10, "lr_decay": 0.01, "weight_decay": 0.1},
]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_optim(config, impl):
    """Float32, 30 steps; the middle tensor sits out every third step, so the step counts
    that drive ``lr_decay`` differ between parameters."""
    torch.manual_seed(0)
    ours = [torch.randn(s, requires_grad=True) for s in [(5, 3), (3,), (2, 2, 2)]]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    runs = [
        (ours, Adagrad(ours, **config, **impl)),
        (theirs, torch.optim.Adagrad(theirs, **config)),
    ]
    for k in range(30):
        for params, optimizer in runs:
            optimizer.zero_grad()
            active = params if k % 3 else params[::2]
            sum((torch.sin(p) * p.pow(2)).sum() for p in active).backward()
            optimizer.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("decoupled", [False, True])
def test_fused_kernel_runs_and_applies_weight_decay_once(monkeypatch, decoupled):
    calls = []
    kernel = torch._fused_adagrad_
    monkeypatch.setattr(
        torch, "_fused_adagrad_", lambda *a, **k: calls.append(1) or kernel(*a, **k)
    )
    config = {"lr": 0.1, "weight_decay": 0.3, "decoupled_weight_decay": decoupled}
    f, theta0 = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    fused = _iterates(lambda p: Adagrad(p, **config), f, theta0, steps=20)
    assert len(calls) == 20
    loop = _iterates(lambda p: Adagrad(p, **config, foreach=False, fused=False), f, theta0, 20)
    _assert_follows(fused, loop)


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
