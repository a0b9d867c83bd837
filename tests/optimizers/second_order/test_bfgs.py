"""BFGS against N&W Algorithm 6.1 (NumPy transcription), the quadratic-termination theorem
and SciPy. The behaviour BFGS shares with L-BFGS is tested on both in test_quasi_newton.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optimizers.second_order._problems import logistic_data, logistic_loss
from reference import quasi_newton
from scipy.optimize import minimize

from deepdescent.optimizers.second_order.bfgs import BFGS


def logistic_problem(seed=0):
    """The NumPy (value and gradient, Hessian) of the logistic regression and its torch
    loss of one vector θ = (w, b)."""
    x, t, lam = logistic_data(seed)
    loss = logistic_loss(x, t, lam)
    return quasi_newton.logistic_regression(x, t, lam), lambda theta: loss(theta[:-1], theta[-1])


def iterate(optimizer, theta, loss_fn, steps):
    """``steps`` calls of ``step``; returns the iterates, the first being the start."""
    path = [theta.detach().numpy().copy()]
    for _ in range(steps):

        def closure():
            optimizer.zero_grad()
            value = loss_fn(theta)
            value.backward()
            return value

        optimizer.step(closure)
        path.append(theta.detach().numpy().copy())
    return path


def spd_quadratic(n=8, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(np.geomspace(1.0, 50.0, n)) @ q.T
    return a, rng.normal(size=n)


def test_terminates_on_a_quadratic_within_n_steps_with_exact_line_searches():
    """Quadratic termination. Nocedal & Wright (2006), §6.3, on the Broyden class (BFGS
    among it), paraphrased: for a strongly convex quadratic f(x) = ½xᵀAx − bᵀx, any x₀ and
    any symmetric positive definite starting matrix, with exact line searches, the
    iterates reach the minimizer in at most n iterations; the steps are conjugate,
    sᵢᵀAsⱼ = 0 for i ≠ j; and after n iterations Bₙ = A, i.e. Hₙ = A⁻¹. (So n + 1
    gradient evaluations; the book's theorem number is not checked here.)

    The line search is made exact by the strong-Wolfe search with c₂ = 1e-10 (its cubic
    interpolation is exact on a quadratic); the transcription uses α = −∇fᵀd / dᵀAd."""
    n = 8
    a, b = spd_quadratic(n)
    a_t, b_t = torch.from_numpy(a), torch.from_numpy(b)
    x0 = np.random.default_rng(1).normal(size=n)
    theta = torch.tensor(x0, requires_grad=True)
    optimizer = BFGS([theta], max_iter=1, c1=1e-12, c2=1e-10, tolerance_grad=0.0)
    ours = iterate(optimizer, theta, lambda th: 0.5 * th @ a_t @ th - b_t @ th, n)
    reference, inverse = quasi_newton.bfgs(
        x0, lambda x: a @ x - b, quasi_newton.exact_step_on_quadratic(a, b), n
    )
    solution = np.linalg.solve(a, b)
    for path in (ours, reference):
        gradients = [np.linalg.norm(a @ x - b) for x in path]
        assert gradients[n - 1] > 1e-3 * gradients[0]  # not done one step early
        np.testing.assert_allclose(path[n], solution, rtol=0, atol=1e-7)
        steps = np.diff(np.array(path), axis=0)
        products = steps @ a @ steps.T
        scale = np.sqrt(np.outer(np.diag(products), np.diag(products)))
        np.testing.assert_allclose(
            products - np.diag(np.diag(products)), 0, atol=1e-6 * scale.max()
        )
    np.testing.assert_allclose(inverse, np.linalg.inv(a), rtol=0, atol=1e-9)
    ours_inverse = optimizer.state[theta]["inverse_hessian"].numpy()
    np.testing.assert_allclose(ours_inverse, np.linalg.inv(a), rtol=0, atol=1e-6)


def test_iterates_match_the_transcription_of_algorithm_6_1():
    """On logistic regression, fed the step lengths ours accepted (the projection of our
    step on the transcription's direction): the iterates agree only if Hₖ does, H₀'s
    rescaling (6.20) included."""
    (fun, _), loss = logistic_problem()
    x0 = np.random.default_rng(2).normal(scale=0.1, size=11)
    theta = torch.tensor(x0, requires_grad=True)
    optimizer = BFGS([theta], max_iter=1, tolerance_grad=0.0)
    ours = iterate(optimizer, theta, loss, 25)

    def our_step(k, x, d):
        return float((ours[k + 1] - x) @ d / (d @ d))

    reference, inverse = quasi_newton.bfgs(x0, lambda x: fun(x)[1], our_step, 25)
    for k, (mine, theirs) in enumerate(zip(ours, reference, strict=True)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-8, atol=1e-11, err_msg=f"iterate {k}")
    np.testing.assert_allclose(
        optimizer.state[theta]["inverse_hessian"].numpy(), inverse, rtol=1e-6, atol=1e-9
    )


def test_reaches_the_scipy_optimum():
    (fun, hess), loss = logistic_problem(seed=1)
    optimum = minimize(
        fun, np.zeros(11), jac=True, hess=hess, method="trust-exact", options={"gtol": 1e-10}
    ).x
    assert np.abs(fun(optimum)[1]).max() <= 1e-10
    theta = torch.zeros(11, dtype=torch.float64, requires_grad=True)
    optimizer = BFGS([theta], max_iter=500, tolerance_grad=1e-9, tolerance_change=0.0)
    iterate(optimizer, theta, loss, 1)
    np.testing.assert_allclose(theta.detach().numpy(), optimum, rtol=0, atol=1e-6)
    assert optimizer.state[theta]["n_iter"] < 100


def test_max_params_guard():
    small, large = torch.zeros(60, requires_grad=True), torch.zeros(50, requires_grad=True)
    with pytest.raises(ValueError, match=r"n = 110.*max_params = 100.*Use LBFGS"):
        BFGS([small, large], max_params=100)
    optimizer = BFGS([small], max_params=100)
    with pytest.raises(ValueError, match="max_params"):
        optimizer.add_param_group({"params": [large]})
    assert len(optimizer.param_groups) == 1
    spec = BFGS(max_params=10)
    with pytest.raises(ValueError, match="n = 60"):
        spec.bind([small])
    with pytest.raises(ValueError, match="Invalid max_params"):
        BFGS(max_params=0)


def test_inverse_hessian_keeps_the_parameters_dtype():
    theta = torch.linspace(-1, 1, 6, requires_grad=True)
    optimizer = BFGS([theta], max_iter=3)
    iterate(optimizer, theta, lambda th: ((th - 0.3) ** 2 * torch.arange(1.0, 7.0)).sum(), 2)
    inverse = optimizer.state[theta]["inverse_hessian"]
    assert inverse.dtype == torch.float32 and inverse.shape == (6, 6)
    torch.testing.assert_close(inverse, inverse.T)
    assert torch.linalg.eigvalsh(inverse.double()).min() > 0
