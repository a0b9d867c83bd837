"""SGD, momentum and Nesterov (Algorithms 8.1–8.3) against the book and torch.optim."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optimizers._harness import BODIES_AND_FUSED, STEPS, assert_follows, chapter8_problems, iterates
from reference import chapter8

from deepdescent.optimizers import SGD
from deepdescent.schedules import LinearDecay


def test_ill_conditioned_gradient():
    """The hand-derived gradients of the test problems are right (checked with autograd)."""
    theta0 = np.linspace(-1.0, 1.2, 6)
    lam = torch.tensor(np.geomspace(1.0, 100.0, theta0.size))
    theta = torch.tensor(theta0, requires_grad=True)
    value = (
        0.5 * (lam * theta**2).sum() + torch.log(torch.cosh(theta)).sum() + theta[0] * theta[1] / 4
    )
    value.backward()
    assert chapter8.ill_conditioned(theta0)[0] == pytest.approx(value.item(), rel=1e-12)
    np.testing.assert_allclose(chapter8.ill_conditioned(theta0)[1], theta.grad.numpy(), rtol=1e-12)


def test_tiny_network_gradient():
    f, theta0, _ = chapter8_problems()[1].values
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    theta = torch.tensor(theta0, requires_grad=True)
    w1, b1, w2, b2 = torch.split(theta, [12, 4, 8, 2])
    out = torch.tanh(torch.from_numpy(x) @ w1.reshape(3, 4) + b1) @ w2.reshape(4, 2) + b2
    ((out - torch.from_numpy(y)) ** 2).mean().backward()
    np.testing.assert_allclose(f(theta0)[1], theta.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("impl", BODIES_AND_FUSED)
@pytest.mark.parametrize(("f", "theta0", "lr"), chapter8_problems())
def test_algorithm_8_1_sgd_follows_the_book(f, theta0, lr, impl):
    reference = chapter8.sgd(theta0, lambda t: f(t)[1], lambda k: lr, STEPS)
    assert_follows(iterates(lambda p: SGD(p, lr=lr, **impl), f, theta0), reference)
    assert f(reference[-1])[0] < 0.75 * f(theta0)[0]


@pytest.mark.parametrize("impl", BODIES_AND_FUSED)
@pytest.mark.parametrize(("f", "theta0", "lr"), chapter8_problems())
def test_algorithm_8_2_momentum_follows_the_book(f, theta0, lr, impl):
    reference = chapter8.momentum(theta0, lambda t: f(t)[1], lr, 0.9, STEPS)
    assert_follows(iterates(lambda p: SGD(p, lr=lr, momentum=0.9, **impl), f, theta0), reference)


@pytest.mark.parametrize("impl", BODIES_AND_FUSED)
@pytest.mark.parametrize(("f", "theta0", "lr"), chapter8_problems())
def test_algorithm_8_3_nesterov_stores_the_look_ahead_point(f, theta0, lr, impl):
    path, velocities = chapter8.nesterov(theta0, lambda t: f(t)[1], lr, 0.9, STEPS)
    look_ahead = [t + 0.9 * v for t, v in zip(path, velocities, strict=True)]
    ours = iterates(lambda p: SGD(p, lr=lr, momentum=0.9, nesterov=True, **impl), f, theta0)
    assert_follows(ours, look_ahead)


def test_the_book_schedule_drives_sgd():
    f, theta0 = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    schedule = chapter8.linear_decay(0.009, 0.0009, 40)
    reference = chapter8.sgd(theta0, lambda t: f(t)[1], schedule, STEPS)
    ours = iterates(lambda p: SGD(p, lr=LinearDecay(0.009, 40, 0.0009)), f, theta0)
    assert_follows(ours, reference)


CONFIGS = [
    {"lr": 0.05},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1},
]


@pytest.mark.parametrize("impl", BODIES_AND_FUSED)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_optim(config, impl):
    torch.manual_seed(0)
    shapes = [(5, 3), (3,), (2, 2, 2)]
    ours = [torch.randn(s, requires_grad=True) for s in shapes]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    opt_ours = SGD(ours, **config, **impl)
    opt_theirs = torch.optim.SGD(theirs, **config)
    for _ in range(30):
        for params, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            sum((torch.sin(p) * p.pow(2)).sum() for p in params).backward()
            opt.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_keras_defaults_and_names():
    optimizer = SGD(learning_rate=0.05, momentum=0.9)
    assert optimizer.learning_rate == 0.05
    assert SGD().learning_rate == 0.01


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"momentum": -0.1}, "momentum"),
        ({"momentum": 1.0}, "momentum"),
        ({"dampening": 2.0}, "dampening"),
        ({"nesterov": True}, "nesterov"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        SGD(**kwargs)
