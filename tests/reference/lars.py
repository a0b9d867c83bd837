"""You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks" (2017),
Algorithm 1 (LARS), in NumPy.

``layers`` is a list of weight arrays w^l, ``grad(layers)`` the list of their gradients,
``lr(t)`` the global rate γ of update t (t = 0, 1, …). Returns the iterates, each a list
of layers, the first being the start.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Layers = list[np.ndarray]


def lars(
    layers: Layers,
    grad: Callable[[Layers], Layers],
    lr: Callable[[int], float],
    momentum: float,
    weight_decay: float,
    trust_coefficient: float,
    steps: int,
) -> list[Layers]:
    """For each layer l: λ = η‖w‖/(‖g‖ + β‖w‖); v ← m v + γ λ (g + β w); w ← w − v."""
    w = [layer.copy() for layer in layers]
    v = [np.zeros_like(layer) for layer in layers]
    path = [[layer.copy() for layer in w]]
    for t in range(steps):
        g = grad(w)
        for l in range(len(w)):  # noqa: E741 (the paper's layer index)
            w_norm, g_norm = np.linalg.norm(w[l]), np.linalg.norm(g[l])
            local_lr = trust_coefficient * w_norm / (g_norm + weight_decay * w_norm)
            v[l] = momentum * v[l] + lr(t) * local_lr * (g[l] + weight_decay * w[l])
            w[l] = w[l] - v[l]
        path.append([layer.copy() for layer in w])
    return path
