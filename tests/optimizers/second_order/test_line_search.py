"""Line searches: the Wolfe conditions (property test), SciPy, N&W Algorithm 3.1, and φ
built from a closure."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import nocedal_wright

from deepdescent.optimizers.second_order.line_search import (
    LineFunction,
    backtracking_armijo,
    exact_quadratic_step,
    loss_value,
    strong_wolfe,
)


def _wolfe(value, slope, step, value0, slope0, c1, c2):
    return value <= value0 + c1 * step * slope0 and abs(slope) <= c2 * abs(slope0)


# -- strong Wolfe: property test over random smooth functions -------------------------------

_waves = st.lists(
    st.tuples(st.floats(-2.0, 2.0), st.floats(0.1, 20.0), st.floats(0.0, 2 * math.pi)),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(
    curvature=st.floats(0.1, 20.0),
    slope0=st.floats(-20.0, -1e-3),
    waves=_waves,
    c2=st.sampled_from([0.1, 0.5, 0.9]),
    initial_step=st.floats(0.1, 10.0),
)
def test_strong_wolfe_step_satisfies_both_conditions(curvature, slope0, waves, c2, initial_step):
    """φ(α) = aα² + bα + Σ cₖ sin(ωₖα + pₖ), a > 0 (bounded below), b set so φ'(0) < 0."""
    b = slope0 - sum(c * w * math.cos(p) for c, w, p in waves)

    def phi(alpha):
        value = (
            curvature * alpha**2 + b * alpha + sum(c * math.sin(w * alpha + p) for c, w, p in waves)
        )
        slope = (
            2 * curvature * alpha + b + sum(c * w * math.cos(w * alpha + p) for c, w, p in waves)
        )
        return value, slope

    value0, slope0 = phi(0.0)
    result = strong_wolfe(phi, value0, slope0, initial_step=initial_step, c1=1e-4, c2=c2)
    assert result.success, result.message
    assert (result.value, result.slope) == phi(result.step)
    assert result.step > 0
    assert _wolfe(result.value, result.slope, result.step, value0, slope0, 1e-4, c2)


# -- strong Wolfe against scipy.optimize.line_search ------------------------------------------

_A = np.array([[1.0, 0.5, 0.0], [0.5, 3.0, 0.2], [0.0, 0.2, 10.0]])
_B = np.array([1.0, -2.0, 0.5])


def _quadratic(x):
    return 0.5 * x @ _A @ x - _B @ x


def _quadratic_grad(x):
    return _A @ x - _B


def _ours(f, grad, x, d, c1, c2):
    phi = lambda alpha: (f(x + alpha * d), grad(x + alpha * d) @ d)  # noqa: E731
    return strong_wolfe(phi, f(x), grad(x) @ d, c1=c1, c2=c2)


def _scipy(f, grad, x, d, c1, c2):
    return scipy.optimize.line_search(f, grad, x, d, c1=c1, c2=c2)


@pytest.mark.parametrize("c2", [0.9, 0.1])
@pytest.mark.parametrize("seed", range(4))
def test_strong_wolfe_matches_scipy_on_a_quadratic(seed, c2):
    """Both interpolate the exact minimizer α* = −gᵀd/dᵀAd along steepest descent."""
    x = np.random.default_rng(seed).normal(size=3) * 2
    d = -_quadratic_grad(x)
    ours = _ours(_quadratic, _quadratic_grad, x, d, 1e-4, c2)
    alpha = _scipy(_quadratic, _quadratic_grad, x, d, 1e-4, c2)[0]
    exact = -(_quadratic_grad(x) @ d) / (d @ _A @ d)
    assert ours.success
    assert ours.step == pytest.approx(alpha, rel=1e-10)
    assert ours.step == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize("c2", [0.9, 0.1])
@pytest.mark.parametrize("start", [[-1.2, 1.0], [0.5, 0.5], [1.5, 2.0]])
def test_strong_wolfe_matches_scipy_on_rosenbrock_newton_directions(start, c2):
    """Along Newton's direction both accept the unit step."""
    x = np.array(start)
    grad = scipy.optimize.rosen_der(x)
    d = -np.linalg.solve(scipy.optimize.rosen_hess(x), grad)
    assert grad @ d < 0
    ours = _ours(scipy.optimize.rosen, scipy.optimize.rosen_der, x, d, 1e-4, c2)
    alpha = _scipy(scipy.optimize.rosen, scipy.optimize.rosen_der, x, d, 1e-4, c2)[0]
    assert ours.success and ours.step == alpha == 1.0
    assert ours.evaluations == 1


@pytest.mark.filterwarnings("ignore:The line search algorithm did not converge")
@pytest.mark.parametrize("c2", [0.9, 0.1])
@pytest.mark.parametrize("seed", range(4))
def test_strong_wolfe_agrees_with_scipy_on_rosenbrock_steepest_descent(seed, c2):
    """Where the step is found by zooming the two interpolate differently (SciPy's cubic
    through three values and one slope, ours through two of each), so both must return a
    strong-Wolfe step, ours with no more evaluations of φ than SciPy's of f."""
    f, grad = scipy.optimize.rosen, scipy.optimize.rosen_der
    x = np.random.default_rng(seed).normal(size=3)
    d = -grad(x)
    ours = _ours(f, grad, x, d, 1e-4, c2)
    alpha, evaluations, *_ = _scipy(f, grad, x, d, 1e-4, c2)
    assert ours.success
    assert _wolfe(
        f(x + ours.step * d), grad(x + ours.step * d) @ d, ours.step, f(x), grad(x) @ d, 1e-4, c2
    )
    if alpha is not None:
        assert _wolfe(f(x + alpha * d), grad(x + alpha * d) @ d, alpha, f(x), grad(x) @ d, 1e-4, c2)
    assert ours.evaluations <= evaluations


# -- strong Wolfe: failures -------------------------------------------------------------------


def test_strong_wolfe_refuses_an_ascent_direction():
    calls = []
    result = strong_wolfe(lambda a: calls.append(a) or (a, 1.0), 0.0, 1.0)
    assert not result.success and "not a descent direction" in result.message
    assert (result.step, result.evaluations, calls) == (0.0, 0, [])


def test_strong_wolfe_reports_an_unbounded_function():
    result = strong_wolfe(lambda a: (-a, -1.0), 0.0, -1.0, max_step=100.0)
    assert not result.success and "max_step" in result.message
    assert result.step == 0.0 and result.value == 0.0


def test_strong_wolfe_reports_when_the_budget_runs_out():
    result = strong_wolfe(lambda a: (-a, -1.0), 0.0, -1.0, max_evaluations=5)
    assert not result.success and "5 evaluations" in result.message
    assert result.evaluations == 5


def test_strong_wolfe_shortens_the_step_past_a_non_finite_value():
    """φ is NaN beyond α = 1: the search must come back inside."""

    def phi(alpha):
        if alpha > 1.0:
            return math.nan, math.nan
        return (alpha - 0.8) ** 2, 2 * (alpha - 0.8)

    result = strong_wolfe(phi, 0.64, -1.6, initial_step=4.0, c2=0.1)
    assert result.success and 0 < result.step <= 1.0
    assert abs(result.slope) <= 0.16


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"c1": 0.0}, "c1"),
        ({"c1": 1.0}, "c1"),
        ({"c1": 0.5, "c2": 0.4}, "c2"),
        ({"c2": 1.0}, "c2"),
        ({"initial_step": 0.0}, "initial_step"),
        ({"initial_step": math.inf}, "initial_step"),
        ({"max_evaluations": 0}, "max_evaluations"),
        ({"initial_step": 2.0, "max_step": 1.0}, "max_step"),
    ],
)
def test_strong_wolfe_invalid_constants(kwargs, name):
    with pytest.raises(ValueError, match=f"Invalid {name}"):
        strong_wolfe(lambda a: (a, 1.0), 0.0, -1.0, **kwargs)


# -- backtracking (Algorithm 3.1) ---------------------------------------------------------------


@pytest.mark.parametrize("shrink", [0.5, 0.1, 0.9])
@pytest.mark.parametrize("start", [[-1.2, 1.0], [0.0, 0.0], [2.0, -1.0]])
def test_backtracking_follows_algorithm_3_1(start, shrink):
    f, grad = scipy.optimize.rosen, scipy.optimize.rosen_der
    x = np.array(start)
    d = -grad(x)
    expected = nocedal_wright.backtracking(
        lambda a: f(x + a * d), f(x), grad(x) @ d, 1.0, shrink, 1e-4, 200
    )
    phi = lambda a: (f(x + a * d), grad(x + a * d) @ d)  # noqa: E731
    result = backtracking_armijo(phi, f(x), grad(x) @ d, shrink=shrink, max_evaluations=200)
    assert result.success and result.step == expected
    assert (result.value, result.slope) == phi(expected)
    assert result.evaluations == round(math.log(expected) / math.log(shrink)) + 1


def test_backtracking_failures():
    assert not backtracking_armijo(lambda a: (a, 1.0), 0.0, 1.0).success
    result = backtracking_armijo(lambda a: (1.0, 0.0), 0.0, -1.0, max_evaluations=3)
    assert not result.success and result.step == 0.0 and result.evaluations == 3
    with pytest.raises(ValueError, match="Invalid shrink"):
        backtracking_armijo(lambda a: (a, 1.0), 0.0, -1.0, shrink=1.0)
    with pytest.raises(ValueError, match="Invalid c1"):
        backtracking_armijo(lambda a: (a, 1.0), 0.0, -1.0, c1=-0.1)


# -- the exact step on a quadratic ---------------------------------------------------------------


def test_exact_quadratic_step_minimizes_the_quadratic():
    x = np.array([1.0, 2.0, -1.0])
    d = -_quadratic_grad(x) + np.array([0.3, 0.0, 0.1])
    step = exact_quadratic_step(_quadratic_grad(x) @ d, d @ _A @ d)
    assert _quadratic_grad(x + step * d) @ d == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="positive curvature"):
        exact_quadratic_step(-1.0, 0.0)
    with pytest.raises(ValueError, match="positive curvature"):
        exact_quadratic_step(-1.0, -2.0)


# -- φ from a closure ------------------------------------------------------------------------------


def _closure_problem():
    torch.manual_seed(0)
    w = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    x = torch.randn(10, 3, dtype=torch.float64)
    calls = []

    def loss_of(w_, b_):
        return torch.logsumexp(x @ w_ + b_, dim=1).mean() + (w_**4).sum() / 4

    def closure():
        calls.append(1)
        w.grad = b.grad = None
        loss = loss_of(w, b)
        loss.backward()
        return loss

    return [w, b], loss_of, closure, calls


def test_line_function_values_slopes_and_restoring():
    params, loss_of, closure, _ = _closure_problem()
    direction = [torch.randn_like(p) for p in params]
    start = [p.detach().clone() for p in params]
    line = LineFunction(closure, params, direction)
    for alpha in (0.0, 0.3, -0.2):
        value, slope = line(alpha)
        moved = [
            (p + alpha * d).detach().requires_grad_() for p, d in zip(start, direction, strict=True)
        ]
        expected = loss_of(*moved)
        expected.backward()
        assert value == pytest.approx(expected.item(), rel=1e-12)
        assert slope == pytest.approx(
            sum((m.grad * d).sum() for m, d in zip(moved, direction, strict=True)).item(), rel=1e-12
        )
        for p, s in zip(params, start, strict=True):
            assert torch.equal(p.detach(), s)
    assert line.evaluations == 3


def test_line_function_with_an_l2_penalty():
    params, loss_of, closure, _ = _closure_problem()
    direction = [torch.randn_like(p) for p in params]
    line = LineFunction(closure, params, direction, l2=[0.5, 0.0])
    value, slope = line(0.25)
    moved = [
        (p + 0.25 * d).detach().requires_grad_() for p, d in zip(params, direction, strict=True)
    ]
    expected = loss_of(*moved) + 0.25 * (moved[0] ** 2).sum()
    expected.backward()
    assert value == pytest.approx(expected.item(), rel=1e-12)
    assert slope == pytest.approx(
        sum((m.grad * d).sum() for m, d in zip(moved, direction, strict=True)).item(), rel=1e-12
    )


def test_line_function_move_to_reuses_the_last_evaluation():
    params, _, closure, calls = _closure_problem()
    start = [p.detach().clone() for p in params]
    direction = [-p.detach().clone() for p in params]
    line = LineFunction(closure, params, direction)
    result = strong_wolfe(line, *line(0.0), c2=0.1)
    assert result.success
    evaluations = len(calls)
    loss, grads = line.move_to(result.step)
    assert len(calls) == evaluations
    assert loss.item() == pytest.approx(result.value, rel=1e-12)
    assert float(
        sum((g * d).sum() for g, d in zip(grads, direction, strict=True))
    ) == pytest.approx(result.slope)
    for p, s, d in zip(params, start, direction, strict=True):
        torch.testing.assert_close(p.detach(), s + result.step * d)


def test_a_failed_search_leaves_the_parameters_alone():
    params, _, closure, _ = _closure_problem()
    closure()
    start = [p.detach().clone() for p in params]
    line = LineFunction(closure, params, [-p.grad.clone() for p in params])
    value0, slope0 = line(0.0)
    result = strong_wolfe(line, value0, slope0, initial_step=1e3, max_evaluations=1)
    assert not result.success and result.step == 0.0
    for p, s in zip(params, start, strict=True):
        assert torch.equal(p.detach(), s)


def test_a_closure_must_return_a_scalar():
    params = [torch.zeros(2, requires_grad=True)]
    line = LineFunction(lambda: params[0] * 1.0, params, [torch.ones(2)])
    with pytest.raises(ValueError, match=r"scalar, got a tensor of shape \(2,\)"):
        line(1.0)
    assert torch.equal(params[0].detach(), torch.zeros(2))
    with pytest.raises(ValueError, match="scalar tensor"):
        loss_value("loss")
    assert math.isnan(loss_value(torch.tensor(math.nan)))


def test_line_function_checks_the_direction():
    params = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="direction"):
        LineFunction(lambda: 0.0, params, [torch.ones(3)])
    with pytest.raises(ValueError, match="l2"):
        LineFunction(lambda: 0.0, params, [torch.ones(2)], l2=[0.1, 0.2])
