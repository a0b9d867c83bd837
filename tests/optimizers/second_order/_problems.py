"""The problems and helpers the quasi-Newton tests share (BFGS, L-BFGS and their common
base): a logistic regression whose NumPy form is ``reference.quasi_newton``'s, Rosenbrock's
function, closures and flat views of parameters.

Imported as ``from optimizers.second_order._problems import ...`` (``tests`` is on the path).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def logistic_data(seed=0, n=200, d=10):
    """Features of scales 1 … 10 (so the problem is not trivially conditioned), noisy
    labels in {−1, +1}."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * np.geomspace(1.0, 10.0, d)
    t = np.where(x @ rng.normal(size=d) + rng.normal(scale=2.0, size=n) > 0, 1.0, -1.0)
    return x, t, 1e-2


def logistic_loss(x, t, lam, device="cpu"):
    """The torch form of ``quasi_newton.logistic_regression``, in (w, b)."""
    features, labels = torch.from_numpy(x).to(device), torch.from_numpy(t).to(device)

    def loss(w, b):
        return F.softplus(-labels * (features @ w + b)).mean() + 0.5 * lam * w.dot(w)

    return loss


def closure_for(optimizer, loss_fn, calls=None):
    def closure():
        optimizer.zero_grad()
        value = loss_fn()
        value.backward()
        if calls is not None:
            calls.append(1)
        return value

    return closure


def weights(d=10, dtype=torch.float64, scale=0.0, seed=0):
    w = torch.randn(d, dtype=dtype, generator=torch.Generator().manual_seed(seed)) * scale
    return w.requires_grad_(), torch.zeros((), dtype=dtype, requires_grad=True)


def flat(*tensors):
    return torch.cat([t.detach().reshape(-1) for t in tensors]).numpy().copy()


def rosenbrock(theta):
    return ((1 - theta[:-1]) ** 2 + 10.0 * (theta[1:] - theta[:-1] ** 2) ** 2).sum()


def run(optimizer, params, loss_fn, steps):
    for _ in range(steps):
        optimizer.step(closure_for(optimizer, lambda: loss_fn(*params)))
