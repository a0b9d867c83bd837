"""Nocedal & Wright, *Numerical Optimization* (2nd ed., 2006), in NumPy.

Plain transcriptions of the published pseudo-code, used as references by the tests of
the line searches and of conjugate gradient. Never imports deepdescent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def backtracking(
    f: Callable[[float], float],
    f0: float,
    slope0: float,
    alpha: float,
    rho: float,
    c: float,
    max_trials: int,
) -> float | None:
    """Algorithm 3.1 (backtracking line search) on φ(α) = f(x + αp):
    repeat α ← ρα until φ(α) ≤ φ(0) + cαφ'(0); None when ``max_trials`` all fail."""
    for _ in range(max_trials):
        if f(alpha) <= f0 + c * alpha * slope0:
            return alpha
        alpha = rho * alpha
    return None


def linear_cg(a: np.ndarray, b: np.ndarray, x0: np.ndarray, tol: float = 0.0) -> list:
    """Algorithm 5.2 (CG) for Ax = b, A symmetric positive definite; returns the iterates
    x₀, x₁, … (at most n + 1 of them), stopping when ‖r_k‖ ≤ ``tol``.

        r₀ ← Ax₀ − b, p₀ ← −r₀
        while r_k ≠ 0:
            α_k ← r_kᵀr_k / p_kᵀAp_k
            x_{k+1} ← x_k + α_k p_k
            r_{k+1} ← r_k + α_k A p_k
            β_{k+1} ← r_{k+1}ᵀr_{k+1} / r_kᵀr_k
            p_{k+1} ← −r_{k+1} + β_{k+1} p_k
    """
    x = x0.copy()
    r = a @ x - b
    p = -r
    path = [x.copy()]
    for _ in range(len(b)):
        if np.linalg.norm(r) <= tol:
            break
        ap = a @ p
        alpha = (r @ r) / (p @ ap)
        x = x + alpha * p
        r_next = r + alpha * ap
        beta = (r_next @ r_next) / (r @ r)
        p = -r_next + beta * p
        r = r_next
        path.append(x.copy())
    return path
