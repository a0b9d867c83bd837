"""Gaussian continuation (§8.7.6) against closed forms: on a quadratic its antithetic
estimate is the exact gradient (a plain SGD step), on Σ exp(θᵢ) it estimates the blurred
function's gradient e^{σ²/2}∇f, and from a local minimum of Rastrigin's function the
blurred objectives lead to the global one."""

from __future__ import annotations

import math

import pytest
import torch

from deepdescent.optimizers import LBFGS, SGD, Continuation


def _closure(optimizer, params, loss_of):
    def closure():
        optimizer.zero_grad()
        value = loss_of(*params)
        value.backward()
        return value

    return closure


def _rastrigin(theta):
    return (theta**2 - 10 * torch.cos(2 * math.pi * theta)).sum()


def test_on_a_quadratic_antithetic_draws_give_the_exact_gradient():
    """∇f(θ + σε) + ∇f(θ − σε) = 2∇f(θ) for a quadratic f: the steps are SGD's."""
    scales = torch.linspace(1.0, 5.0, 6, dtype=torch.float64)
    ours = torch.linspace(-1.0, 2.0, 6, dtype=torch.float64, requires_grad=True)
    theirs = ours.detach().clone().requires_grad_()
    smooth = Continuation(SGD([ours], lr=0.1), sigmas=(3.0,), samples=6)
    plain = torch.optim.SGD([theirs], lr=0.1)
    for _ in range(5):
        at_theta = 0.5 * (scales * ours.detach() ** 2).sum().item()
        loss = smooth.step(_closure(smooth, [ours], lambda t: 0.5 * (scales * t**2).sum()))
        plain.step(_closure(plain, [theirs], lambda t: 0.5 * (scales * t**2).sum()))
        assert loss.item() == pytest.approx(at_theta, rel=1e-12)  # the loss at θ, unblurred
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_it_estimates_the_gradient_of_the_blurred_function():
    """f(θ) = Σ exp(θᵢ): E[f(θ + σε)] = Σ exp(θᵢ + σ²/2), whose gradient is e^{σ²/2} ≈ 1.13
    times f's at σ = 0.5 — far more than the estimate's error with 2000 draws (≈ 1%)."""
    theta0 = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    theta = theta0.clone().requires_grad_()
    optimizer = Continuation(SGD([theta], lr=1.0), sigmas=(0.5,), samples=2000, seed=3)
    optimizer.step(_closure(optimizer, [theta], lambda t: torch.exp(t).sum()))
    estimate = theta0 - theta.detach()  # θ ← θ − 1·ĝ
    torch.testing.assert_close(estimate, torch.exp(theta0 + 0.125), rtol=0.05, atol=0)


def test_the_schedule_runs_its_stages_and_ends_on_j_itself():
    theta = torch.zeros(1, requires_grad=True)
    optimizer = Continuation(SGD([theta], lr=0.0), sigmas=(0.5, 0.2, 0.0), steps_per_stage=2)
    seen = []
    for _ in range(7):
        seen.append(optimizer.sigma)
        optimizer.step(_closure(optimizer, [theta], lambda t: (t**2).sum()))
    assert seen == [0.5, 0.5, 0.2, 0.2, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("base", "steps", "stage"),
    [("sgd", 400, 300), ("lbfgs", 30, 10)],
)
def test_continuation_escapes_the_local_minimum_plain_descent_stops_in(base, steps, stage):
    """1-D Rastrigin from 2.9: every integer is near a local minimum; blurred with σ = 0.6
    the function is convex (its second derivative 2 + 40π² e^{−2π²σ²} cos 2πθ > 0)."""

    def make(params):
        if base == "sgd":
            return SGD(params, lr=0.004)
        return LBFGS(params, max_iter=5, line_search_fn="strong_wolfe")

    ends = []
    for schedule in (None, (0.6, 0.0)):
        theta = torch.tensor([2.9], dtype=torch.float64, requires_grad=True)
        optimizer = make([theta])
        if schedule is not None:
            optimizer = Continuation(optimizer, sigmas=schedule, steps_per_stage=stage, samples=8)
        closure = _closure(optimizer, [theta], _rastrigin)
        for _ in range(steps):
            optimizer.step(closure)
        ends.append(theta.item())
    assert ends[0] == pytest.approx(2.98, abs=0.01)  # the local minimum near 3
    assert abs(ends[1]) < 1e-6


def test_bad_settings_are_refused():
    theta = torch.zeros(1, requires_grad=True)
    base = SGD([theta])
    with pytest.raises(ValueError, match=r"Invalid sigmas: \(0\.1, 0\.5\)"):
        Continuation(base, sigmas=(0.1, 0.5))
    with pytest.raises(ValueError, match=r"Invalid samples: 3 \(expected an even number"):
        Continuation(base, samples=3)
    with pytest.raises(ValueError, match="Invalid steps_per_stage"):
        Continuation(base, steps_per_stage=0)
    assert Continuation(base, samples=3, antithetic=False).samples == 3
