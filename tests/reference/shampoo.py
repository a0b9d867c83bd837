"""Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization",
ICML 2018, in NumPy.

Algorithm 1 (the matrix case) and the diagonal AdaGrad used for vectors. Each function runs
``steps`` iterations from ``W`` with ``grad(W)`` for the gradient and returns the iterates,
the first being ``W``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Grad = Callable[[np.ndarray], np.ndarray]


def matrix_power(M: np.ndarray, p: float) -> np.ndarray:
    """M^p of a symmetric positive definite M, from its eigendecomposition M = Q Λ Qᵀ."""
    eigenvalues, Q = np.linalg.eigh(M)
    return (Q * eigenvalues**p) @ Q.T


def shampoo(
    W: np.ndarray, grad: Grad, lr: float, eps: float, steps: int, frequency: int = 1
) -> list:
    """Algorithm 1: L₀ = εI_m, R₀ = εI_n; for t = 1..T:
    G_t = ∇f_t(W_t);  L_t = L_{t−1} + G_t G_tᵀ;  R_t = R_{t−1} + G_tᵀ G_t;
    W_{t+1} = W_t − η L_t^{−1/4} G_t R_t^{−1/4}.

    ``frequency`` > 1 is the practice of Anil et al. (2020): the roots are recomputed at
    t = 1, 1 + frequency, … and reused in between (1: the paper)."""
    m, n = W.shape
    L, R = eps * np.eye(m), eps * np.eye(n)
    path = [W.copy()]
    for t in range(steps):
        G = grad(W)
        L = L + G @ G.T
        R = R + G.T @ G
        if t % frequency == 0:
            left, right = matrix_power(L, -0.25), matrix_power(R, -0.25)
        W = W - lr * left @ G @ right
        path.append(W.copy())
    return path


def shampoo_tensor(W: np.ndarray, grad: Grad, lr: float, eps: float, steps: int) -> list:
    """Algorithm 2 for an order-k tensor: Hⁱ₀ = εI; Hⁱ ← Hⁱ + G_(i) G_(i)ᵀ (mode-i
    unfolding); W ← W − η G ×₁ (H¹)^{−1/2k} ×₂ … ×_k (H^k)^{−1/2k}."""
    k = W.ndim
    H = [eps * np.eye(n) for n in W.shape]
    path = [W.copy()]
    for _ in range(steps):
        G = grad(W)
        step = G
        for i in range(k):
            unfolding = np.moveaxis(G, i, 0).reshape(G.shape[i], -1)
            H[i] = H[i] + unfolding @ unfolding.T
            # mode-i product: multiply axis i of the step by the root.
            root = matrix_power(H[i], -1.0 / (2 * k))
            step = np.moveaxis(np.tensordot(root, step, axes=([1], [i])), 0, i)
        W = W - lr * step
        path.append(W.copy())
    return path


def diagonal_adagrad(w: np.ndarray, grad: Grad, lr: float, eps: float, steps: int) -> list:
    """The vector case with a diagonal preconditioner: h₀ = ε; h ← h + g ⊙ g;
    w ← w − η h^{−1/2} ⊙ g."""
    h = np.full_like(w, eps)
    path = [w.copy()]
    for _ in range(steps):
        g = grad(w)
        h = h + g * g
        w = w - lr * g / np.sqrt(h)
        path.append(w.copy())
    return path
