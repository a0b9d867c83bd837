"""Keras 3's optimizer updates at Keras's default arguments, transcribed from
keras/src/optimizers/*.py (``update_step``) into NumPy. Each function returns the iterates
θ₀ … θ_steps on one tensor fed ``grad``. Never imports deepdescent."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Grad = Callable[[np.ndarray], np.ndarray]


def _run(theta0: np.ndarray, steps: int, step: Callable[[np.ndarray, int], np.ndarray]):
    theta, path = theta0.copy(), [theta0.copy()]
    for t in range(1, steps + 1):
        theta = step(theta, t)
        path.append(theta.copy())
    return np.array(path)


def sgd(theta0: np.ndarray, grad: Grad, steps: int) -> np.ndarray:
    lr = 0.01
    return _run(theta0, steps, lambda theta, _t: theta - lr * grad(theta))


def adam(theta0: np.ndarray, grad: Grad, steps: int, weight_decay: float = 0.0) -> np.ndarray:
    """Adam (and AdamW, whose decay θ ← θ − λεθ comes first, in Optimizer.apply)."""
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    m, v = np.zeros_like(theta0), np.zeros_like(theta0)

    def step(theta: np.ndarray, t: int) -> np.ndarray:
        nonlocal m, v
        g = grad(theta)
        theta = theta - theta * weight_decay * lr
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        return theta - m * alpha / (np.sqrt(v) + eps)

    return _run(theta0, steps, step)


def adamw(theta0: np.ndarray, grad: Grad, steps: int) -> np.ndarray:
    return adam(theta0, grad, steps, weight_decay=0.004)


def rmsprop(theta0: np.ndarray, grad: Grad, steps: int) -> np.ndarray:
    lr, rho, eps = 0.001, 0.9, 1e-7
    velocity = np.zeros_like(theta0)

    def step(theta: np.ndarray, _t: int) -> np.ndarray:
        nonlocal velocity
        g = grad(theta)
        velocity = rho * velocity + (1 - rho) * g * g
        return theta - lr * g / np.sqrt(velocity + eps)

    return _run(theta0, steps, step)


def adagrad(theta0: np.ndarray, grad: Grad, steps: int) -> np.ndarray:
    lr, eps = 0.001, 1e-7
    accumulator = np.full_like(theta0, 0.1)

    def step(theta: np.ndarray, _t: int) -> np.ndarray:
        nonlocal accumulator
        g = grad(theta)
        accumulator = accumulator + g * g
        return theta - lr * g / np.sqrt(accumulator + eps)

    return _run(theta0, steps, step)


def adadelta(theta0: np.ndarray, grad: Grad, steps: int) -> np.ndarray:
    lr, rho, eps = 0.001, 0.95, 1e-7
    acc_grad, acc_delta = np.zeros_like(theta0), np.zeros_like(theta0)

    def step(theta: np.ndarray, _t: int) -> np.ndarray:
        nonlocal acc_grad, acc_delta
        g = grad(theta)
        acc_grad = rho * acc_grad + (1 - rho) * g * g
        delta = -np.sqrt(acc_delta + eps) * g / np.sqrt(acc_grad + eps)
        acc_delta = rho * acc_delta + (1 - rho) * delta * delta
        return theta + lr * delta

    return _run(theta0, steps, step)


def adamax(theta0: np.ndarray, grad: Grad, steps: int) -> np.ndarray:
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    m, u = np.zeros_like(theta0), np.zeros_like(theta0)

    def step(theta: np.ndarray, t: int) -> np.ndarray:
        nonlocal m, u
        g = grad(theta)
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        return theta - lr * m / ((1 - b1**t) * (u + eps))

    return _run(theta0, steps, step)


def nadam(theta0: np.ndarray, grad: Grad, steps: int) -> np.ndarray:
    lr, b1, b2, eps, decay = 0.001, 0.9, 0.999, 1e-7, 0.96
    m, v = np.zeros_like(theta0), np.zeros_like(theta0)
    u_product = 1.0

    def step(theta: np.ndarray, t: int) -> np.ndarray:
        nonlocal m, v, u_product
        g = grad(theta)
        u_product = u_product * b1 * (1.0 - 0.5 * decay**t)
        u_t = b1 * (1.0 - 0.5 * decay**t)
        u_t_1 = b1 * (1.0 - 0.5 * decay ** (t + 1))
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        m_hat = u_t_1 * m / (1 - u_product * u_t_1) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - b2**t)
        return theta - m_hat * lr / (np.sqrt(v_hat) + eps)

    return _run(theta0, steps, step)


def lion(theta0: np.ndarray, grad: Grad, steps: int) -> np.ndarray:
    lr, b1, b2 = 0.001, 0.9, 0.99
    m = np.zeros_like(theta0)

    def step(theta: np.ndarray, _t: int) -> np.ndarray:
        nonlocal m
        g = grad(theta)
        theta = theta - lr * np.sign(m * b1 + g * (1 - b1))
        m = m * b2 + g * (1 - b2)
        return theta

    return _run(theta0, steps, step)
