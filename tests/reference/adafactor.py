"""Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost"
(ICML 2018), Algorithm 4 (weight matrices) and Algorithm 5 (weight vectors), in NumPy,
with the relative step size and decay schedule of their section 9:
ρ_t = min(ρ_max, 1/√t) (ρ_max = 10⁻² in the paper) and β̂₂ₜ = 1 − t^τ (τ = −0.8).

``layers`` is a list of 2-D or 1-D arrays, ``grad(layers)`` the list of their gradients.
Returns the iterates, each a list of layers, the first being the start.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Layers = list[np.ndarray]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def adafactor(
    layers: Layers,
    grad: Callable[[Layers], Layers],
    steps: int,
    rho_max: float = 1e-2,
    tau: float = -0.8,
    eps1: float = 1e-30,
    eps2: float = 1e-3,
    d: float = 1.0,
) -> list[Layers]:
    x = [layer.copy() for layer in layers]
    row = [np.zeros(a.shape[0]) if a.ndim == 2 else None for a in x]  # R_t ∈ R^n
    col = [np.zeros(a.shape[1]) if a.ndim == 2 else None for a in x]  # C_t ∈ R^m
    v = [np.zeros_like(a) if a.ndim == 1 else None for a in x]  # V̂_t for vectors
    path = [[a.copy() for a in x]]
    for t in range(1, steps + 1):
        g = grad(x)
        beta2_hat = 1 - t**tau
        rho = min(rho_max, 1 / np.sqrt(t))
        for i in range(len(x)):
            squared = g[i] ** 2 + eps1
            if x[i].ndim == 2:  # Algorithm 4
                row[i] = beta2_hat * row[i] + (1 - beta2_hat) * squared.sum(axis=1)  # (·) 1_m
                col[i] = beta2_hat * col[i] + (1 - beta2_hat) * squared.sum(axis=0)  # 1_nᵀ (·)
                v_hat = np.outer(row[i], col[i]) / row[i].sum()
            else:  # Algorithm 5
                v[i] = beta2_hat * v[i] + (1 - beta2_hat) * squared
                v_hat = v[i]
            u = g[i] / np.sqrt(v_hat)
            u_hat = u / max(1.0, rms(u) / d)
            alpha = max(eps2, rms(x[i])) * rho
            x[i] = x[i] - alpha * u_hat
        path.append([a.copy() for a in x])
    return path
