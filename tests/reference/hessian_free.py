"""Martens, "Deep learning via Hessian-free optimization", ICML 2010, in NumPy, with the
line search of Martens & Sutskever (2012, §8.8), on an explicit curvature matrix.

``hessian_free`` runs ``steps`` iterations from ``theta`` given f, ∇f and B(θ) (the
Gauss–Newton matrix or the Hessian, formed) and returns the iterates and the damping λ
after each step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Function = Callable[[np.ndarray], float]
Vector = Callable[[np.ndarray], np.ndarray]
Matrix = Callable[[np.ndarray], np.ndarray]


def conjugate_gradient(
    A: np.ndarray,
    g: np.ndarray,
    x0: np.ndarray,
    max_iter: int,
    epsilon: float | None,
    gamma: float,
    M: np.ndarray | None = None,
) -> tuple[list[tuple[int, np.ndarray]], np.ndarray]:
    """Linear CG on φ(x) = ½xᵀAx + gᵀx from x0 (§4.4 warm start), preconditioned by the
    diagonal M (§4.7; None: M = I), stopped at iteration i when i > k, φ(xᵢ) < 0 and
    (φ(xᵢ) − φ(x_{i−k}))/φ(xᵢ) < kε with k = max(10, ⌊i/10⌋) (§4.4; ε None: never), or on
    dᵀAd ≤ 0 or a vanished residual. Returns the iterates at i = ⌈γʲ⌉ and the last one
    (§4.6), and the last iterate."""
    M = np.ones_like(g) if M is None else M
    x = x0.copy()
    r = -g - A @ x
    z = r / M
    d = z.copy()
    keep, power = set(), gamma
    while math.ceil(power) <= max_iter:
        keep.add(math.ceil(power))
        power *= gamma
    phi = [0.5 * x @ A @ x + g @ x]
    kept, i = [], 0
    for i in range(1, max_iter + 1):
        curvature = d @ A @ d
        if curvature <= 0:
            i -= 1
            break
        alpha = (r @ z) / curvature
        x = x + alpha * d
        r_new = r - alpha * (A @ d)
        z_new = r_new / M
        phi.append(0.5 * x @ A @ x + g @ x)
        if i in keep:
            kept.append((i, x.copy()))
        k = max(10, i // 10)
        if r_new @ z_new == 0 or (
            epsilon is not None
            and i > k
            and phi[i] < 0
            and (phi[i] - phi[i - k]) / phi[i] < k * epsilon
        ):
            break
        d = z_new + (r_new @ z_new) / (r @ z) * d
        r, z = r_new, z_new
    if i and (not kept or kept[-1][0] != i):
        kept.append((i, x.copy()))
    return kept, x


def hessian_free(
    theta: np.ndarray,
    f: Function,
    grad: Vector,
    curvature: Matrix,
    steps: int,
    damping: float = 1.0,
    max_cg_iter: int = 250,
    epsilon: float = 5e-4,
    zeta: float = 0.95,
    gamma: float = 1.3,
    squared_gradients: Vector | None = None,
    xi: float = 0.75,
) -> tuple[list[np.ndarray], list[float]]:
    """Martens's outer loop: CG from ζ·(last CG iterate of the previous step) on B + λI,
    preconditioned (§4.7) by M = (s(θ) + λ)^ξ when ``squared_gradients`` gives
    s(θ) = (1/N) Σₙ ∇ℓₙ(θ)², the mean of the squared per-example gradients;
    backtracking over the kept iterates from the last while f decreases; the reduction
    ratio ρ against the undamped model q(p) = gᵀp + ½pᵀBp with λ ← 2/3 λ if ρ > 3/4 and
    λ ← 3/2 λ if ρ < 1/4 (§4.1); then the first α of 1, 0.8, 0.8², … (60 at most) with
    f(θ + αp) ≤ f(θ) + 10⁻² α gᵀp."""
    path, dampings = [theta.copy()], []
    previous = np.zeros_like(theta)
    for _ in range(steps):
        value, g, B = f(theta), grad(theta), curvature(theta)
        M = None if squared_gradients is None else (squared_gradients(theta) + damping) ** xi
        kept, previous = conjugate_gradient(
            B + damping * np.eye(len(theta)), g, zeta * previous, max_cg_iter, epsilon, gamma, M
        )
        if not kept:
            damping *= 1.5
        else:
            p, best = kept[-1][1], f(theta + kept[-1][1])
            for _, x in reversed(kept[:-1]):
                trial = f(theta + x)
                if not trial < best:
                    break
                p, best = x, trial
            q = g @ p + 0.5 * p @ B @ p
            rho = (best - value) / q if q < 0 else -math.inf
            if rho > 0.75:
                damping *= 2.0 / 3.0
            elif rho < 0.25:
                damping *= 1.5
            theta = theta + _armijo(f, theta, p, value, g @ p, best)
        path.append(theta.copy())
        dampings.append(damping)
    return path, dampings


def _armijo(
    f: Function, theta: np.ndarray, p: np.ndarray, value: float, slope: float, at_one: float
) -> np.ndarray:
    """α p for the first α in 1, 0.8, 0.8², … with sufficient decrease; 0 if none in 60."""
    if slope >= 0:
        return np.zeros_like(p)
    alpha, trial = 1.0, at_one
    for _ in range(60):
        if trial <= value + 1e-2 * alpha * slope:
            return alpha * p
        alpha *= 0.8
        trial = f(theta + alpha * p)
    return np.zeros_like(p)
