"""Coordinate descent in NumPy (Goodfellow et al. §8.7.2): exact coordinate minimization of
a quadratic (the Gauss–Seidel iteration) and the alternating minimization of the chapter's
sparse coding objective. Never imports deepdescent."""

from __future__ import annotations

import numpy as np


def gauss_seidel(a, b, x, sweeps):
    """Cyclic exact minimization of f(x) = ½xᵀAx − bᵀx over one coordinate at a time:
    xᵢ ← (bᵢ − Σ_{j≠i} Aᵢⱼxⱼ) / Aᵢᵢ. Returns the iterate after each sweep."""
    x = np.array(x, dtype=float)
    path = []
    for _ in range(sweeps):
        for i in range(len(x)):
            x[i] = (b[i] - a[i] @ x + a[i, i] * x[i]) / a[i, i]
        path.append(x.copy())
    return path


def sparse_coding_objective(x, w, h, lam):
    """J(H, W) = λ Σᵢⱼ |Hᵢⱼ| + Σᵢⱼ (X − WᵀH)²ᵢⱼ."""
    return lam * np.abs(h).sum() + ((x - w.T @ h) ** 2).sum()


def _soft_threshold(u, tau):
    return np.sign(u) * max(abs(u) - tau, 0.0)


def sparse_coding(x, w, h, lam, sweeps):
    """Alternating minimization of J: the codes H by one cyclic pass of exact coordinate
    minimizations, Hᵢⱼ ← S(wᵢ·rᵢⱼ / ‖wᵢ‖², λ / (2‖wᵢ‖²)) with rᵢⱼ the residual of column j
    without code i (row-major order), then the dictionary W by least squares,
    W = argmin ‖X − WᵀH‖² (a convex problem each). Returns (H, W, J) after each half-step."""
    w, h = np.array(w, dtype=float), np.array(h, dtype=float)
    history = []
    for _ in range(sweeps):
        for i in range(h.shape[0]):
            for j in range(h.shape[1]):
                residual = x[:, j] - w.T @ h[:, j] + w[i] * h[i, j]
                squared = w[i] @ w[i]
                h[i, j] = _soft_threshold(w[i] @ residual / squared, lam / (2 * squared))
        history.append((h.copy(), w.copy(), sparse_coding_objective(x, w, h, lam)))
        w = np.linalg.lstsq(h.T, x.T, rcond=None)[0]
        history.append((h.copy(), w.copy(), sparse_coding_objective(x, w, h, lam)))
    return history
