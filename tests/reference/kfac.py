"""Martens & Grosse, "Optimizing Neural Networks with Kronecker-factored Approximate
Curvature", ICML 2015, in NumPy, for one fully connected layer z = W̃ ã (ã = [a; 1]).

Parameters are ordered as the row-major vec of W̃ = [W  b] (out × (in + 1)), so the
per-sample gradient ∇_{W̃} L_n = g_n ã_nᵀ flattens to g_n ⊗ ã_n and the Fisher's Kronecker
approximation is G ⊗ A.
"""

from __future__ import annotations

import numpy as np


def homogeneous(a: np.ndarray) -> np.ndarray:
    """ã: the inputs with the bias's constant 1 appended (§3, "homogeneous coordinates")."""
    return np.hstack([a, np.ones((len(a), 1))])


def per_sample_gradients(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Rows vec(g_n ã_nᵀ) = g_n ⊗ ã_n, with g_n = ∂L_n/∂z_n (the per-sample loss)."""
    a_tilde = homogeneous(a)
    return np.stack([np.kron(gn, an) for gn, an in zip(g, a_tilde, strict=True)])


def empirical_fisher(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """F = (1/N) Σ_n vec(∇L_n) vec(∇L_n)ᵀ, formed explicitly."""
    rows = per_sample_gradients(a, g)
    return rows.T @ rows / len(rows)


def factors(a: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A = E[ã ãᵀ], G = E[g gᵀ] (eq. 1 of §3: F ≈ A ⊗ G; here ordered G ⊗ A)."""
    a_tilde = homogeneous(a)
    return a_tilde.T @ a_tilde / len(a), g.T @ g / len(g)


def factored_tikhonov(A: np.ndarray, G: np.ndarray, damping: float) -> np.ndarray:
    """§6.3: (A + π√λ I) ⊗ (G + √λ/π I) with π = √((tr A / dim A) / (tr G / dim G)),
    ordered G ⊗ A."""
    pi = np.sqrt((np.trace(A) / len(A)) / (np.trace(G) / len(G)))
    gamma = np.sqrt(damping)
    return np.kron(G + gamma / pi * np.eye(len(G)), A + pi * gamma * np.eye(len(A)))


def natural_gradient_step(
    theta: np.ndarray, curvature: np.ndarray, grad: np.ndarray, lr: float
) -> np.ndarray:
    """θ − η C⁻¹ ∇h (§2: the natural gradient when C is the Fisher)."""
    return theta - lr * np.linalg.solve(curvature, grad)
