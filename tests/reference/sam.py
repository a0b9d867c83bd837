"""Sharpness-aware minimization in NumPy: Foret, Kleiner, Mobahi & Neyshabur (2021),
Algorithm 1 (p = 2), and the adaptive form of Kwon, Kim, Park & Choi (2021), ASAM,
Algorithm 1, each with SGD as the base optimizer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Grad = Callable[[np.ndarray], np.ndarray]


def sam_sgd(
    w: np.ndarray,
    grad: Grad,
    lr: float,
    rho: float,
    steps: int,
    adaptive: bool = False,
    eta: float = 0.01,
) -> list:
    """SAM: g = ∇L(w); ε̂ = ρ g/‖g‖₂; g_SAM = ∇L(w + ε̂); w ← w − η g_SAM.

    ASAM (``adaptive``): T_w = |w| + η element-wise; ε̂ = ρ T_w² g/‖T_w g‖₂.
    Returns the iterates, the first being ``w``.
    """
    path = [w.copy()]
    for _ in range(steps):
        g = grad(w)
        t = np.abs(w) + eta if adaptive else np.ones_like(w)
        epsilon = rho * t * t * g / np.linalg.norm(t * g)
        g_sam = grad(w + epsilon)
        w = w - lr * g_sam
        path.append(w.copy())
    return path
