"""Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023, in NumPy.

Algorithm 2 (Lion). Returns the list of iterates, the first being ``theta``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Grad = Callable[[np.ndarray], np.ndarray]


def lion(
    theta: np.ndarray,
    grad: Grad,
    lr: float,
    betas: tuple[float, float],
    weight_decay: float,
    steps: int,
) -> list:
    """Algorithm 2:
    c_t = β1 m + (1 − β1) g;  θ ← θ − η (sign(c_t) + λ θ);  m ← β2 m + (1 − β2) g."""
    beta1, beta2 = betas
    m = np.zeros_like(theta)
    path = [theta.copy()]
    for _ in range(steps):
        g = grad(theta)
        c = beta1 * m + (1 - beta1) * g
        theta = theta - lr * (np.sign(c) + weight_decay * theta)
        m = beta2 * m + (1 - beta2) * g
        path.append(theta.copy())
    return path
