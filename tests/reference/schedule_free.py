"""Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled"
(NeurIPS 2024), in NumPy: Schedule-Free SGD (section 2) and Schedule-Free AdamW
(Algorithm 1), each with the warm-up and the averaging weights of Algorithm 1,
c_{t+1} = γ_t² / Σ_{i=1}^t γ_i².

``theta`` is the initial point x_1 = z_1, ``grad`` the gradient. Both functions keep the
three sequences explicitly and return the lists of x_t and of y_t (t = 1 … steps + 1).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Grad = Callable[[np.ndarray], np.ndarray]


def _run(theta: np.ndarray, steps: int, beta: float, step: Callable) -> tuple[list, list]:
    x, z = theta.copy(), theta.copy()
    xs, ys = [x.copy()], [x.copy()]
    weight_sum = 0.0
    for t in range(1, steps + 1):
        y = (1 - beta) * z + beta * x
        z, lr = step(t, y, z)
        weight_sum += lr**2
        c = lr**2 / weight_sum
        x = (1 - c) * x + c * z
        xs.append(x.copy())
        ys.append((1 - beta) * z + beta * x)
    return xs, ys


def sgd(
    theta: np.ndarray,
    grad: Grad,
    lr: float,
    beta: float,
    steps: int,
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
) -> tuple[list, list]:
    """y_t = (1−β)z_t + βx_t; z_{t+1} = z_t − γ_t (∇f(y_t) + λy_t);
    x_{t+1} = (1 − c_{t+1}) x_t + c_{t+1} z_{t+1}, γ_t = γ min(1, t/T_warmup)."""

    def step(t: int, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, float]:
        lr_t = lr * min(1.0, t / warmup_steps) if warmup_steps else lr
        return z - lr_t * (grad(y) + weight_decay * y), lr_t

    return _run(theta, steps, beta, step)


def adamw(
    theta: np.ndarray,
    grad: Grad,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    steps: int,
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
) -> tuple[list, list]:
    """Algorithm 1: v_t = β₂v_{t−1} + (1−β₂)g_t²; γ_t = γ √(1−β₂ᵗ) min(1, t/T_warmup);
    z_{t+1} = z_t − γ_t g_t/(√v_t + ε) − γ_t λ y_t."""
    v = np.zeros_like(theta)

    def step(t: int, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, float]:
        nonlocal v
        g = grad(y)
        v = beta2 * v + (1 - beta2) * g**2
        lr_t = lr * np.sqrt(1 - beta2**t) * (min(1.0, t / warmup_steps) if warmup_steps else 1.0)
        return z - lr_t * g / (np.sqrt(v) + eps) - lr_t * weight_decay * y, lr_t

    return _run(theta, steps, beta1, step)
