"""Goodfellow, Bengio & Courville, *Deep Learning* (2016), chapter 8, in NumPy.

Each function runs ``steps`` iterations from ``theta`` using ``grad(theta)`` for the
(minibatch) gradient and returns the list of iterates, the first being ``theta``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Grad = Callable[[np.ndarray], np.ndarray]


def sgd(theta: np.ndarray, grad: Grad, lr: Callable[[int], float], steps: int) -> list:
    """Algorithm 8.1: θ ← θ − ε_k ĝ."""
    path = [theta.copy()]
    for k in range(steps):
        theta = theta - lr(k) * grad(theta)
        path.append(theta.copy())
    return path


def momentum(theta: np.ndarray, grad: Grad, lr: float, alpha: float, steps: int) -> list:
    """Algorithm 8.2: v ← αv − εĝ; θ ← θ + v (v starts at 0)."""
    v = np.zeros_like(theta)
    path = [theta.copy()]
    for _ in range(steps):
        v = alpha * v - lr * grad(theta)
        theta = theta + v
        path.append(theta.copy())
    return path


def nesterov(theta: np.ndarray, grad: Grad, lr: float, alpha: float, steps: int) -> tuple:
    """Algorithm 8.3: θ̃ ← θ + αv; ĝ at θ̃; v ← αv − εĝ; θ ← θ + v.

    Returns the iterates θ and the velocities v.
    """
    v = np.zeros_like(theta)
    path, velocities = [theta.copy()], [v.copy()]
    for _ in range(steps):
        g = grad(theta + alpha * v)
        v = alpha * v - lr * g
        theta = theta + v
        path.append(theta.copy())
        velocities.append(v.copy())
    return path, velocities


def linear_decay(eps0: float, eps_tau: float, tau: int) -> Callable[[int], float]:
    """Eq. 8.14: ε_k = (1 − k/τ) ε_0 + (k/τ) ε_τ for k ≤ τ, then ε_τ."""

    def schedule(k: int) -> float:
        a = min(k, tau) / tau
        return (1 - a) * eps0 + a * eps_tau

    return schedule


# -- test problems with hand-derived gradients -----------------------------------------


def ill_conditioned(theta: np.ndarray) -> tuple[float, np.ndarray]:
    """f(θ) = Σ_i λ_i θ_i² / 2 + Σ_i log cosh(θ_i) + θ_0 θ_1 / 4, with λ_i from 1 to 100:
    non-quadratic, condition number about 100."""
    lam = np.geomspace(1.0, 100.0, theta.size)
    value = 0.5 * np.sum(lam * theta**2) + np.sum(np.log(np.cosh(theta))) + theta[0] * theta[1] / 4
    grad = lam * theta + np.tanh(theta)
    grad[0] += theta[1] / 4
    grad[1] += theta[0] / 4
    return float(value), grad


def tiny_network(x: np.ndarray, y: np.ndarray, hidden: int) -> Callable:
    """Mean squared error of ``tanh(x W1 + b1) W2 + b2`` against ``y``; θ is the
    concatenation of W1 (d×h), b1 (h), W2 (h×o), b2 (o). Backpropagation by hand."""
    d = x.shape[1]
    o = y.shape[1]

    def unpack(theta: np.ndarray) -> tuple:
        sizes = np.cumsum([d * hidden, hidden, hidden * o])
        w1, b1, w2, b2 = np.split(theta, sizes)
        return w1.reshape(d, hidden), b1, w2.reshape(hidden, o), b2

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w1, b1, w2, b2 = unpack(theta)
        h = np.tanh(x @ w1 + b1)
        out = h @ w2 + b2
        err = out - y
        value = np.mean(err**2)
        d_out = 2 * err / err.size
        d_h = d_out @ w2.T * (1 - h**2)
        grad = np.concatenate(
            [(x.T @ d_h).ravel(), d_h.sum(0), (h.T @ d_out).ravel(), d_out.sum(0)]
        )
        return float(value), grad

    return loss_and_grad


# -- section 8.5: algorithms with adaptive learning rates ------------------------------


def adagrad(theta: np.ndarray, grad: Grad, lr: float, delta: float, steps: int) -> list:
    """Algorithm 8.4: r ← r + g⊙g; Δθ ← −ε/(δ + √r) ⊙ g; θ ← θ + Δθ (r starts at 0)."""
    r = np.zeros_like(theta)
    path = [theta.copy()]
    for _ in range(steps):
        g = grad(theta)
        r = r + g * g
        theta = theta - lr / (delta + np.sqrt(r)) * g
        path.append(theta.copy())
    return path


def rmsprop(theta: np.ndarray, grad: Grad, lr: float, rho: float, delta: float, steps: int) -> list:
    """Algorithm 8.5: r ← ρr + (1 − ρ) g⊙g; Δθ = −ε/√(δ + r) ⊙ g; θ ← θ + Δθ."""
    r = np.zeros_like(theta)
    path = [theta.copy()]
    for _ in range(steps):
        g = grad(theta)
        r = rho * r + (1 - rho) * g * g
        theta = theta - lr / np.sqrt(delta + r) * g
        path.append(theta.copy())
    return path


def rmsprop_nesterov(
    theta: np.ndarray, grad: Grad, lr: float, rho: float, alpha: float, steps: int
) -> tuple:
    """Algorithm 8.6: θ̃ ← θ + αv; g at θ̃; r ← ρr + (1 − ρ) g⊙g; v ← αv − ε/√r ⊙ g;
    θ ← θ + v (v and r start at 0; the book has no δ here).

    Returns the iterates θ and the velocities v.
    """
    r, v = np.zeros_like(theta), np.zeros_like(theta)
    path, velocities = [theta.copy()], [v.copy()]
    for _ in range(steps):
        g = grad(theta + alpha * v)
        r = rho * r + (1 - rho) * g * g
        v = alpha * v - lr / np.sqrt(r) * g
        theta = theta + v
        path.append(theta.copy())
        velocities.append(v.copy())
    return path, velocities


def adam(
    theta: np.ndarray,
    grad: Grad,
    steps: int,
    lr: float = 0.001,
    rho1: float = 0.9,
    rho2: float = 0.999,
    delta: float = 1e-8,
) -> list:
    """Algorithm 8.7 (defaults as the book suggests): t ← t + 1;
    s ← ρ₁s + (1 − ρ₁)g; r ← ρ₂r + (1 − ρ₂)g⊙g; ŝ ← s/(1 − ρ₁ᵗ); r̂ ← r/(1 − ρ₂ᵗ);
    Δθ = −ε ŝ/(√r̂ + δ); θ ← θ + Δθ."""
    s, r = np.zeros_like(theta), np.zeros_like(theta)
    path = [theta.copy()]
    for t in range(1, steps + 1):
        g = grad(theta)
        s = rho1 * s + (1 - rho1) * g
        r = rho2 * r + (1 - rho2) * g * g
        s_hat = s / (1 - rho1**t)
        r_hat = r / (1 - rho2**t)
        theta = theta - lr * s_hat / (np.sqrt(r_hat) + delta)
        path.append(theta.copy())
    return path
