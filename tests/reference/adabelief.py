"""Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
Gradients", NeurIPS 2020, in NumPy.

Algorithm 2 (AdaBelief), with two options of the authors' released code that the paper's
pseudo-code leaves out: decoupled weight decay and RAdam's rectification (taken from
``reference.radam``, with torch.optim's threshold ρ_t > 5). Returns the list of iterates,
the first being ``theta``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from reference.radam import rectification

Grad = Callable[[np.ndarray], np.ndarray]


def adabelief(
    theta: np.ndarray,
    grad: Grad,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    steps: int,
    weight_decay: float = 0.0,
    rectify: bool = False,
) -> list:
    """Algorithm 2:
    m_t = β1 m + (1 − β1) g;  s_t = β2 s + (1 − β2)(g − m_t)² + ε;
    m̂ = m_t / (1 − β1^t);  ŝ = s_t / (1 − β2^t);  θ ← θ − α m̂ / (√ŝ + ε).
    With ``weight_decay`` λ, θ ← θ − αλθ first; with ``rectify`` the step is scaled by
    RAdam's r_t, or is θ ← θ − α m̂ while r_t is undefined."""
    beta1, beta2 = betas
    m, s = np.zeros_like(theta), np.zeros_like(theta)
    path = [theta.copy()]
    for t in range(1, steps + 1):
        g = grad(theta)
        theta = theta - lr * weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * (g - m) ** 2 + eps
        m_hat = m / (1 - beta1**t)
        s_hat = s / (1 - beta2**t)
        r = rectification(t, beta2, threshold=5.0) if rectify else 1.0
        step = m_hat if r is None else r * m_hat / (np.sqrt(s_hat) + eps)
        theta = theta - lr * step
        path.append(theta.copy())
    return path
