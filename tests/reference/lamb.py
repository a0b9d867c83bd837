"""You, Li, Reddi, Hseu, Kumar, Bhojanapalli, Song, Demmel, Keutzer & Hsieh, "Large
Batch Optimization for Deep Learning: Training BERT in 76 minutes" (ICLR 2020),
Algorithm 2 (LAMB), in NumPy.

``layers`` is a list of arrays x^(i), ``grad(layers)`` the list of their gradients.
Returns the iterates, each a list of layers, the first being the start.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Layers = list[np.ndarray]


def lamb(
    layers: Layers,
    grad: Callable[[Layers], Layers],
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    steps: int,
    phi: Callable[[float], float] = lambda z: z,
) -> list[Layers]:
    """m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; m̂, v̂ bias-corrected; r = m̂/(√v̂ + ε);
    per layer x ← x − η φ(‖x‖)/‖r + λx‖ (r + λx)."""
    x = [layer.copy() for layer in layers]
    m = [np.zeros_like(layer) for layer in layers]
    v = [np.zeros_like(layer) for layer in layers]
    path = [[layer.copy() for layer in x]]
    for t in range(1, steps + 1):
        g = grad(x)
        for i in range(len(x)):
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] ** 2
            m_hat = m[i] / (1 - beta1**t)
            v_hat = v[i] / (1 - beta2**t)
            r = m_hat / (np.sqrt(v_hat) + eps)
            u = r + weight_decay * x[i]
            x[i] = x[i] - lr * phi(np.linalg.norm(x[i])) / np.linalg.norm(u) * u
        path.append([layer.copy() for layer in x])
    return path
