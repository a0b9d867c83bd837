r"""The noisy quadratic: a 100-dimensional quadratic whose minibatch gradients are noisy,
the stochastic-optimization setting stripped to its bare bones.

Each sample x ~ N(0, I) gives the loss

    ℓ(θ; x) = ½ (θ − x)ᵀ H (θ − x),

so the minibatch gradient H(θ − x̄) is the true gradient Hθ plus noise of covariance H/m
for a minibatch of m. The expected loss is E ℓ = ½ θᵀHθ + ½ tr H, least at θ = 0, where
the floor ½ tr H remains. H = Q diag(h) Qᵀ has the spectrum of DeepOBS's ``quadratic_deep``,
which mimics a deep network's Hessian: 90 eigenvalues drawn uniformly from [0, 1] and 10
from [30, 60] (condition number in the hundreds), turned by a random rotation Q so that
no coordinate axis is an eigenvector. H, Q and the data are drawn once, from generators of
their own; the start θ₀ ~ N(0, I) is drawn from torch's global one (the seed).

The model's output is o = √(d/2) D^{1/2} Qᵀ(θ − x) per sample, so that the mean squared
error against zero, mean‖o‖²/d, is the mean of ℓ. The validation and test sets are the 2d
points ±√d·eᵢ, whose mean and covariance are exactly those of N(0, I): their mean loss is
the expected loss itself, without sampling error.

References: F. Schneider, L. Balles & P. Hennig, "DeepOBS: A Deep Learning Optimizer
Benchmark Suite", ICLR 2019 (the quadratic_deep problem); G. Zhang et al., "Which
Algorithmic Choices Matter at Which Batch Sizes? Insights From a Noisy Quadratic Model",
NeurIPS 2019.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from deepdescent.problems.function2d import learning_rate_for
from deepdescent.problems.training_problem import (
    DataSource,
    Setting,
    Splits,
    Target,
    TrainingProblem,
)

if TYPE_CHECKING:
    from deepdescent.models import Model

__all__ = ["DIMENSION", "NoisyQuadratic", "hessian", "noisy_quadratic"]

DIMENSION = 100
TRAINING_SAMPLES = 10_000
BATCH_SIZE = 128
_SPECTRUM_SEED, _DATA_SEED = 42, 7

#: Rates that work for each family of optimizers (see LEARNING_RATE_FAMILIES): gradient
#: descent must stay below 2/λ_max ≈ 2/60.
LEARNING_RATES = {"gradient": 0.01, "adaptive": 0.03, "accumulating": 0.3}


def hessian() -> tuple[np.ndarray, np.ndarray]:
    """The eigenvalues h (float64, ``(d,)``) and the rotation Q (``(d, d)``, orthogonal) of
    H = Q diag(h) Qᵀ."""
    rng = np.random.default_rng(_SPECTRUM_SEED)
    eigenvalues = np.concatenate([rng.uniform(0.0, 1.0, 90), rng.uniform(30.0, 60.0, 10)])
    q, r = np.linalg.qr(rng.standard_normal((DIMENSION, DIMENSION)))
    return eigenvalues, q * np.sign(np.diag(r))


class NoisyQuadratic(torch.nn.Module):
    """θ ∈ ℝ^d and the residuals o = √(d/2) D^{1/2} Qᵀ(θ − x) of samples x (rows)."""

    transform: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        eigenvalues, rotation = hessian()
        scale = np.sqrt(DIMENSION / 2 * eigenvalues)
        self.theta = torch.nn.Parameter(torch.randn(DIMENSION))
        self.register_buffer("transform", torch.as_tensor(rotation * scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.theta - x) @ self.transform


def _load(source: DataSource) -> Splits:
    samples = TRAINING_SAMPLES if source.limit is None else source.limit
    rng = np.random.default_rng(_DATA_SEED)
    x_train = rng.standard_normal((samples, DIMENSION)).astype(np.float32)
    sigma_points = math.sqrt(DIMENSION) * np.concatenate([np.eye(DIMENSION), -np.eye(DIMENSION)])
    x_eval = sigma_points.astype(np.float32)
    zeros = np.zeros_like
    return Splits(x_train, zeros(x_train), x_eval, zeros(x_eval), x_eval, zeros(x_eval))


def _build() -> Model:
    from deepdescent.models import Model

    return Model(NoisyQuadratic(), name="noisy_quadratic")


def _setting(optimizer: str) -> Setting:
    from deepdescent.optimizers import catalogue

    rate = learning_rate_for(optimizer, LEARNING_RATES)
    full_batch = catalogue.info(optimizer).cls.training_needs.full_batch
    return Setting({} if rate is None else {"lr": rate}, None if full_batch else BATCH_SIZE)


def _floor() -> float:
    """½ tr H, the least expected loss."""
    return 0.5 * float(hessian()[0].sum())


noisy_quadratic = TrainingProblem(
    name="noisy_quadratic",
    summary=(
        "the noisy quadratic: ½(θ − x)ᵀH(θ − x), x ~ N(0, I), d = 100, H with DeepOBS's "
        "quadratic_deep spectrum"
    ),
    load=_load,
    build=_build,
    loss="mse",
    metrics=(),
    target=Target("val_loss", round(1.01 * _floor(), 1)),
    setting=_setting,
)
