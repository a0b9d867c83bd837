"""Chapter 8's two test problems cut into layers, for the methods that work layer by layer
(LARS, LAMB, Adafactor, Muon), and a runner that drives a torch optimizer on them with
the same hand-derived gradients as the NumPy references. Never imports deepdescent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from reference import chapter8

Layers = list[np.ndarray]


@dataclass(frozen=True)
class Problem:
    """A loss over a flat θ, read as layers of the given shapes."""

    name: str
    shapes: tuple[tuple[int, ...], ...]
    theta0: np.ndarray
    loss_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]]

    def split(self, flat: np.ndarray) -> Layers:
        sizes = np.cumsum([int(np.prod(s)) for s in self.shapes])[:-1]
        return [a.reshape(s) for a, s in zip(np.split(flat, sizes), self.shapes, strict=True)]

    def join(self, layers: Layers) -> np.ndarray:
        return np.concatenate([np.ravel(a) for a in layers])

    @property
    def layers0(self) -> Layers:
        return self.split(self.theta0.copy())

    def loss(self, layers: Layers) -> float:
        return self.loss_and_grad(self.join(layers))[0]

    def grad(self, layers: Layers) -> Layers:
        return self.split(self.loss_and_grad(self.join(layers))[1])

    def flat_grad(self, theta: np.ndarray) -> np.ndarray:
        return self.loss_and_grad(theta)[1]


def problems() -> list[Problem]:
    """The ill-conditioned function as a 2×2 matrix and a 2-vector; the tiny network as
    W1 (3×4), b1 (4), W2 (4×2), b2 (2)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    net = chapter8.tiny_network(x, y, hidden=4)
    theta0 = rng.normal(scale=0.5, size=3 * 4 + 4 + 4 * 2 + 2)
    return [
        Problem(
            "ill_conditioned", ((2, 2), (2,)), np.linspace(-1.0, 1.2, 6), chapter8.ill_conditioned
        ),
        Problem("tiny_network", ((3, 4), (4,), (4, 2), (2,)), theta0, net),
    ]


def run_torch(
    problem: Problem,
    make_optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    steps: int,
    finish: Callable[[torch.optim.Optimizer], None] | None = None,
) -> list[np.ndarray]:
    """Iterates (flat) of a torch optimizer over float64 layers, fed the problem's
    gradients, so only the update rule is under test. ``finish(optimizer)``, when given,
    runs after the last step and the parameters it leaves are appended."""
    params = [torch.tensor(a, requires_grad=True) for a in problem.layers0]
    optimizer = make_optimizer(params)
    path = [problem.theta0.copy()]
    for _ in range(steps):
        grads = problem.grad([p.detach().numpy() for p in params])
        for param, g in zip(params, grads, strict=True):
            param.grad = torch.from_numpy(g.copy())
        optimizer.step()
        path.append(problem.join([p.detach().numpy() for p in params]))
    if finish is not None:
        finish(optimizer)
        path.append(problem.join([p.detach().numpy() for p in params]))
    return path


def assert_paths_close(ours: list, reference: list, rtol: float = 1e-10) -> None:
    """Every iterate within ``rtol`` of the reference's, relative to its largest entry."""
    assert len(ours) == len(reference)
    for k, (a, b) in enumerate(zip(ours, reference, strict=True)):
        b = b if isinstance(b, np.ndarray) else np.concatenate([np.ravel(v) for v in b])
        scale = max(np.abs(b).max(), 1e-12)
        gap = np.abs(np.asarray(a) - b).max()
        assert gap <= rtol * scale, f"iterate {k} differs by {gap:.3g} (scale {scale:.3g})"
