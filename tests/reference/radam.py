"""Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020, in NumPy.

Algorithm 2 (RAdam). Returns the list of iterates, the first being ``theta``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Grad = Callable[[np.ndarray], np.ndarray]


def rectification(t: int, beta2: float, threshold: float = 4.0) -> float | None:
    """r_t of Algorithm 2, or None when ρ_t ≤ threshold (the paper's is 4, torch.optim's 5)."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
    if rho_t <= threshold:
        return None
    return np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))


def radam(
    theta: np.ndarray,
    grad: Grad,
    lr: float,
    betas: tuple[float, float],
    steps: int,
    threshold: float = 4.0,
) -> list:
    """Algorithm 2:
    m_t = β1 m + (1 − β1) g;  v_t = β2 v + (1 − β2) g²;  m̂ = m_t / (1 − β1^t);
    if ρ_t > 4:  l_t = √((1 − β2^t) / v_t);  θ ← θ − α r_t m̂ l_t;  else θ ← θ − α m̂."""
    beta1, beta2 = betas
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    path = [theta.copy()]
    for t in range(1, steps + 1):
        g = grad(theta)
        v = beta2 * v + (1 - beta2) * g**2
        m = beta1 * m + (1 - beta1) * g
        m_hat = m / (1 - beta1**t)
        r = rectification(t, beta2, threshold)
        if r is None:
            theta = theta - lr * m_hat
        else:
            theta = theta - lr * r * m_hat * np.sqrt((1 - beta2**t) / v)
        path.append(theta.copy())
    return path
