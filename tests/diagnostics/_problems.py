"""Small problems with exact answers for the diagnostics' tests.

Imported as ``from diagnostics._problems import ...`` (``tests`` is on the path). The
reference Hessians come from ``torch.func.hessian`` of the loss as a function of the flat
parameter vector, independent of the Hessian-vector products under test.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.func import functional_call, hessian


def mean_of_outputs(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """A "loss" whose value is the model's output: for models that compute J themselves."""
    return y_pred


class Quadratic(torch.nn.Module):
    """J(θ) = ½ θᵀAθ + bᵀθ with A = Q diag(eigenvalues) Qᵀ for a random orthogonal Q: the
    Hessian is A everywhere. The output repeats J for each example of the batch."""

    def __init__(self, eigenvalues: list[float] | np.ndarray, seed: int = 0) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        n = len(eigenvalues)
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        self.matrix = q @ np.diag(np.asarray(eigenvalues, dtype=np.float64)) @ q.T
        self.register_buffer("a", torch.from_numpy(self.matrix))
        self.register_buffer("b", torch.from_numpy(rng.standard_normal(n)))
        self.theta = torch.nn.Parameter(torch.from_numpy(rng.standard_normal(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = 0.5 * self.theta @ self.a @ self.theta + self.b @ self.theta
        return value.expand(len(x))


def quadratic_batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(3, 1, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)


def tanh_net(seed: int = 0, hidden: int = 6) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(4, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 3)
    ).double()


def classification_batch(n: int = 24, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, dtype=torch.float64, generator=generator)
    return x, torch.randint(0, 3, (n,), generator=generator)


def flat_parameters(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def loss_of_flat(
    model: torch.nn.Module, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x, y
) -> Callable[[torch.Tensor], torch.Tensor]:
    """J as a function of the flat parameter vector (torch's (outputs, targets) order)."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]

    def cost(flat: torch.Tensor) -> torch.Tensor:
        parts = [part.reshape(shape) for part, shape in zip(flat.split(sizes), shapes, strict=True)]
        return loss(functional_call(model, dict(zip(names, parts, strict=True)), (x,)), y)

    return cost


def exact_hessian_of(model, loss, x, y) -> np.ndarray:
    return hessian(loss_of_flat(model, loss, x, y))(flat_parameters(model)).numpy()
