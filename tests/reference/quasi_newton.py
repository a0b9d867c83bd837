"""Quasi-Newton methods of Nocedal & Wright, *Numerical Optimization* (2nd ed., 2006), in
NumPy: BFGS (Algorithm 6.1 with the inverse update 6.17 and the first-step scaling 6.20)
and L-BFGS (Algorithm 7.5 around the two-loop recursion, Algorithm 7.4, with H⁰ₖ = γₖI,
eq. 7.20).

The step length is left to the caller: ``step_length(k, x, d)`` returns αₖ for the
iteration ``x ← x + αₖ d`` (an exact line search on a quadratic, or the steps another
implementation accepted). A curvature pair is used only when ``sᵀy > eps ‖s‖ ‖y‖``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Gradient = Callable[[np.ndarray], np.ndarray]
StepLength = Callable[[int, np.ndarray, np.ndarray], float]


def two_loop(
    g: np.ndarray, s_list: list[np.ndarray], y_list: list[np.ndarray], gamma: float
) -> np.ndarray:
    """Algorithm 7.4: r = Hₖ∇fₖ for the L-BFGS matrix built from the pairs (oldest
    first) on H⁰ₖ = γI."""
    q = g.copy()
    alphas = []
    for s, y in zip(reversed(s_list), reversed(y_list), strict=True):
        rho = 1.0 / (y @ s)
        alpha = rho * (s @ q)
        q = q - alpha * y
        alphas.append(alpha)
    r = gamma * q
    for s, y, alpha in zip(s_list, y_list, reversed(alphas), strict=True):
        rho = 1.0 / (y @ s)
        beta = rho * (y @ r)
        r = r + s * (alpha - beta)
    return r


def _curvature_ok(s: np.ndarray, y: np.ndarray, eps: float) -> bool:
    return bool(s @ y > eps * np.linalg.norm(s) * np.linalg.norm(y))


def lbfgs(
    x: np.ndarray,
    grad: Gradient,
    m: int,
    step_length: StepLength,
    iterations: int,
    eps: float = 1e-8,
) -> list[np.ndarray]:
    """Algorithm 7.5: dₖ = −Hₖ∇fₖ by the two-loop recursion over the last ``m`` pairs,
    H⁰ₖ = γₖI with γₖ = sᵀy / yᵀy of the newest pair (eq. 7.20; γ = 1 before any pair).
    Returns the iterates, the first being ``x``."""
    s_list: list[np.ndarray] = []
    y_list: list[np.ndarray] = []
    gamma = 1.0
    g = grad(x)
    path = [x.copy()]
    for k in range(iterations):
        d = -two_loop(g, s_list, y_list, gamma)
        x_new = x + step_length(k, x, d) * d
        g_new = grad(x_new)
        s, y = x_new - x, g_new - g
        if _curvature_ok(s, y, eps):
            s_list, y_list = [*s_list, s][-m:], [*y_list, y][-m:]
            gamma = (s @ y) / (y @ y)
        x, g = x_new, g_new
        path.append(x.copy())
    return path


def bfgs(
    x: np.ndarray,
    grad: Gradient,
    step_length: StepLength,
    iterations: int,
    eps: float = 1e-8,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Algorithm 6.1 from H₀ = I: pₖ = −Hₖ∇fₖ, and with ρ = 1/yᵀs the update (6.17)
    Hₖ₊₁ = (I − ρsyᵀ) Hₖ (I − ρysᵀ) + ρssᵀ, where before the first update H₀ is replaced
    by (yᵀs / yᵀy) I (6.20). Returns the iterates and the final H."""
    n = x.size
    eye = np.eye(n)
    h: np.ndarray | None = None
    g = grad(x)
    path = [x.copy()]
    for k in range(iterations):
        d = -(g if h is None else h @ g)
        x_new = x + step_length(k, x, d) * d
        g_new = grad(x_new)
        s, y = x_new - x, g_new - g
        if _curvature_ok(s, y, eps):
            if h is None:
                h = (y @ s) / (y @ y) * eye
            rho = 1.0 / (y @ s)
            h = (eye - rho * np.outer(s, y)) @ h @ (eye - rho * np.outer(y, s)) + rho * np.outer(
                s, s
            )
        x, g = x_new, g_new
        path.append(x.copy())
    return path, (eye if h is None else h)


def exact_step_on_quadratic(a: np.ndarray, b: np.ndarray) -> StepLength:
    """For f(x) = ½xᵀAx − bᵀx: the exact minimizer α = −∇fᵀd / dᵀAd along d."""

    def step(_k: int, x: np.ndarray, d: np.ndarray) -> float:
        return float(-((a @ x - b) @ d) / (d @ a @ d))

    return step


def logistic_regression(
    x: np.ndarray, t: np.ndarray, lam: float
) -> tuple[Callable[[np.ndarray], tuple[float, np.ndarray]], Callable[[np.ndarray], np.ndarray]]:
    """L2-regularized logistic regression, θ = (w, b), labels t ∈ {−1, +1}:
    f(θ) = (1/N) Σ log(1 + exp(−tᵢ(xᵢᵀw + b))) + ½λ‖w‖². Returns ``fun`` (value and
    gradient) and ``hess``, for ``scipy.optimize.minimize(..., jac=True, hess=hess)``."""
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    penalty = np.append(np.full(d, lam), 0.0)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        margins = t * (design @ theta)
        value = np.logaddexp(0.0, -margins).mean() + 0.5 * penalty @ theta**2
        weights = -t / (1.0 + np.exp(margins))  # dℓ/dz = −t σ(−t z)
        return float(value), design.T @ weights / n + penalty * theta

    def hess(theta: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        return (design.T * (p * (1 - p))) @ design / n + np.diag(penalty)

    return fun, hess
