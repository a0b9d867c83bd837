"""Data-dependent initialization in NumPy: LSUV (Mishkin & Matas 2016, Algorithm 1) and
the forward and backward signals of a fully connected network. Never imports deepdescent.

A network here is a list of weights W_l (Keras layout, fan-in × units) and biases b_l
with z_l = h_{l-1} W_l + b_l and h_l = f(z_l), f = tanh or the identity.
"""

from __future__ import annotations

import numpy as np

_F = {"tanh": np.tanh, "linear": lambda z: z}
_DF_FROM_OUTPUT = {"tanh": lambda h: 1.0 - h * h, "linear": lambda h: np.ones_like(h)}


def forward(x, weights, biases, activation):
    """The pre-activations z_l and activations h_l of every layer."""
    zs, hs, h = [], [], x
    for w, b in zip(weights, biases, strict=True):
        z = h @ w + b
        h = _F[activation](z)
        zs.append(z)
        hs.append(h)
    return zs, hs


def lsuv(x, weights, biases, activation, tolerance, max_iterations):
    """Algorithm 1 after the orthonormal start: for each layer L in order, while
    |Var(B_L) − 1| ≥ Tol_var and fewer than T_max passes, W_L ← W_L / √Var(B_L), with B_L
    the layer's output before the nonlinearity on the batch x."""
    weights = [w.copy() for w in weights]
    for layer in range(len(weights)):
        for _ in range(max_iterations):
            variance = forward(x, weights, biases, activation)[0][layer].var()
            if abs(variance - 1.0) < tolerance:
                break
            weights[layer] = weights[layer] / np.sqrt(variance)
    return weights


def signals(x, weights, biases, activation, r):
    """Var(h_l), ‖∂L/∂h_l‖ and ‖∂L/∂W_l‖ for L = Σ h_last ⊙ r, by back-propagation
    written out: δ_l = ∂L/∂h_l; ∂L/∂z_l = δ_l f'(z_l); ∂L/∂W_l = h_{l-1}ᵀ ∂L/∂z_l;
    δ_{l-1} = ∂L/∂z_l W_lᵀ."""
    _, hs = forward(x, weights, biases, activation)
    inputs = [x, *hs[:-1]]
    delta = r
    activation_grads, weight_grads = [], []
    for layer in reversed(range(len(weights))):
        activation_grads.append(np.linalg.norm(delta))
        dz = delta * _DF_FROM_OUTPUT[activation](hs[layer])
        weight_grads.append(np.linalg.norm(inputs[layer].T @ dz))
        delta = dz @ weights[layer].T
    return [h.var() for h in hs], activation_grads[::-1], weight_grads[::-1]
