"""Zhang, Lucas, Hinton & Ba (2019), *Lookahead Optimizer: k steps forward, 1 step back*,
Algorithm 1, in NumPy, with the inner optimizers it is tested around."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Grad = Callable[[np.ndarray], np.ndarray]
# An inner optimizer A: given θ and ∇L(θ), the next θ (it keeps its own state).
Inner = Callable[[np.ndarray, np.ndarray], np.ndarray]


def sgd(lr: float) -> Inner:
    """Plain SGD: θ ← θ − ε g."""

    def update(theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        return theta - lr * g

    return update


def adam(lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Inner:
    """Kingma & Ba (2015), Algorithm 1: m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
    θ ← θ − ε m̂/(√v̂ + ϵ) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)."""
    state = {"m": 0.0, "v": 0.0, "t": 0}

    def update(theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        state["t"] += 1
        t = state["t"]
        state["m"] = beta1 * state["m"] + (1 - beta1) * g
        state["v"] = beta2 * state["v"] + (1 - beta2) * g * g
        m_hat = state["m"] / (1 - beta1**t)
        v_hat = state["v"] / (1 - beta2**t)
        return theta - lr * m_hat / (np.sqrt(v_hat) + eps)

    return update


def lookahead(phi: np.ndarray, grad: Grad, inner: Inner, k: int, alpha: float, steps: int) -> list:
    """Algorithm 1: for t = 1, 2, …: θ_{t,0} ← φ_{t−1}; θ_{t,i} ← A(θ_{t,i−1}) for
    i = 1..k; φ_t ← φ_{t−1} + α(θ_{t,k} − φ_{t−1}).

    Returns the parameters after each of ``steps`` inner steps (the first entry is φ_0):
    θ_{t,i} for i < k, and φ_t where a cycle ends (the next cycle starts from it).
    """
    path = [phi.copy()]
    while len(path) <= steps:
        theta = phi.copy()
        for i in range(1, k + 1):
            theta = inner(theta, grad(theta))
            if i == k:
                phi = phi + alpha * (theta - phi)
                theta = phi.copy()
            path.append(theta.copy())
            if len(path) > steps:
                break
    return path
