"""Jordan, Jin, Boza, You, Cesista, Newhouse & Bernstein, "Muon: An optimizer for hidden
layers in neural networks" (2024), in NumPy: momentum, the quintic Newton–Schulz
orthogonalization and the √max(1, A/B) scale for matrices; AdamW (Loshchilov & Hutter
2019) for every other layer, as the post's auxiliary optimizer.

``layers`` is a list of arrays, ``grad(layers)`` the list of their gradients. Returns the
iterates, each a list of layers, the first being the start.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Layers = list[np.ndarray]
COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(g: np.ndarray, steps: int = 5, eps: float = 1e-7) -> np.ndarray:
    """X₀ = G/(‖G‖_F + ε) (transposed if tall); X ← aX + (bA + cA²)X with A = XXᵀ."""
    a, b, c = COEFFICIENTS
    tall = g.shape[0] > g.shape[1]
    x = g.T if tall else g
    x = x / (np.linalg.norm(x) + eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


def muon(
    layers: Layers,
    grad: Callable[[Layers], Layers],
    lr: float,
    momentum: float,
    nesterov: bool,
    weight_decay: float,
    steps: int,
    *,
    eps: float = 1e-7,
    adamw_lr: float,
    adamw_betas: tuple[float, float] = (0.9, 0.999),
    adamw_eps: float = 1e-8,
) -> list[Layers]:
    w = [layer.copy() for layer in layers]
    buf = [np.zeros_like(layer) for layer in layers]  # Muon's momentum, or Adam's m
    second = [np.zeros_like(layer) for layer in layers]  # Adam's v
    path = [[layer.copy() for layer in w]]
    beta1, beta2 = adamw_betas
    for t in range(1, steps + 1):
        g = grad(w)
        for i in range(len(w)):
            if w[i].ndim >= 2:
                buf[i] = momentum * buf[i] + (1 - momentum) * g[i]
                update = (1 - momentum) * g[i] + momentum * buf[i] if nesterov else buf[i]
                matrix = update.reshape(update.shape[0], -1)
                ortho = newton_schulz(matrix, eps=eps).reshape(w[i].shape)
                scale = np.sqrt(max(1.0, matrix.shape[0] / matrix.shape[1]))
                w[i] = w[i] * (1 - lr * weight_decay) - lr * scale * ortho
            else:
                buf[i] = beta1 * buf[i] + (1 - beta1) * g[i]
                second[i] = beta2 * second[i] + (1 - beta2) * g[i] ** 2
                m_hat = buf[i] / (1 - beta1**t)
                v_hat = second[i] / (1 - beta2**t)
                w[i] = w[i] * (1 - adamw_lr * weight_decay) - adamw_lr * m_hat / (
                    np.sqrt(v_hat) + adamw_eps
                )
        path.append([layer.copy() for layer in w])
    return path
