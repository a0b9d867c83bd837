r"""Curvature along the gradient: ill-conditioning, step by step (Goodfellow et al. §8.2.1).

A gradient step θ ← θ − εg changes the cost, to second order (Eq. 4.9 of the book), by

    J(θ − εg) − J(θ) ≈ ½ ε² gᵀHg − ε gᵀg,

so the step raises the cost once ½ε²gᵀHg exceeds εgᵀg: ill-conditioning shows as gᵀHg
growing faster than gᵀg, forcing ε down. When gᵀHg > 0 the best step along −g is
ε* = gᵀg / gᵀHg (Eq. 4.10). Everything here is exact (one Hessian-vector product), in the
model's precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from deepdescent.autodiff import flatten
from deepdescent.diagnostics._objective import LossArgument, resolve
from deepdescent.utils._checks import check_argument, check_positive

__all__ = [
    "GradientCurvature",
    "curvature_along_gradient",
    "hessian_vector_product",
    "model_learning_rate",
]


def hessian_vector_product(
    model: torch.nn.Module,
    loss_fn: LossArgument,
    x: Any,
    y: Any,
    v: torch.Tensor | Sequence[torch.Tensor],
) -> torch.Tensor | list[torch.Tensor]:
    """``H v`` with H = ∇²J(θ) of ``loss_fn`` on the batch ``(x, y)`` at the model's θ.

    ``v`` is a flat vector over the trainable parameters (``(n,)``, or ``(k, n)`` for k
    vectors at once) or one tensor per parameter; the product comes back in the same form.
    """
    objective = resolve(model, loss_fn, x, y)
    as_list = isinstance(v, (list, tuple))
    flat = flatten(list(v)) if as_list else torch.as_tensor(v)
    check_argument(
        "v",
        f"shape {tuple(flat.shape)}",
        flat.dim() in (1, 2) and flat.shape[-1] == objective.size,
        f"(n,) or (k, n) with n = {objective.size} parameters, or one tensor per parameter",
    )
    with objective.hessian() as (_, _, product):
        result = product(flat.to(objective.params[0]))
    return objective.split(result) if as_list else result


@dataclass
class GradientCurvature:
    """The second-order picture of one gradient step.

    Attributes:
        loss: J(θ).
        gradient_norm_sq: gᵀg.
        curvature: gᵀHg.
        learning_rate: ε (``None`` when none was given or found).
        predicted_change: ½ε²gᵀHg − εgᵀg (``None`` without ε).
        optimal_learning_rate: gᵀg / gᵀHg when gᵀHg > 0, else ``None``.
    """

    loss: float
    gradient_norm_sq: float
    curvature: float
    learning_rate: float | None
    predicted_change: float | None
    optimal_learning_rate: float | None


def model_learning_rate(model: torch.nn.Module) -> float | None:
    """The current learning rate of a compiled model's optimizer (Keras's
    ``learning_rate``, else torch's first ``param_groups`` entry), if it has one."""
    optimizer = getattr(model, "optimizer", None)
    rate = getattr(optimizer, "learning_rate", None)
    if rate is None:
        groups = getattr(optimizer, "param_groups", None)
        rate = groups[0].get("lr") if groups else None
    return None if rate is None else float(rate)


def curvature_along_gradient(
    model: torch.nn.Module,
    loss_fn: LossArgument,
    x: Any,
    y: Any,
    learning_rate: float | None = None,
) -> GradientCurvature:
    """gᵀg, gᵀHg and the predicted change ½ε²gᵀHg − εgᵀg of a step of size ε along −g.

    Args:
        model, loss_fn, x, y: the cost J(θ) on a batch (see :mod:`deepdescent.diagnostics`).
        learning_rate: ε; by default the compiled optimizer's, if the model has one.
    """
    if learning_rate is not None:
        learning_rate = check_positive("learning_rate", learning_rate)
    else:
        learning_rate = model_learning_rate(model)
    objective = resolve(model, loss_fn, x, y)
    with objective.hessian() as (loss, gradient, product):
        g_hessian_g = float(gradient @ product(gradient))
    g_g = float(gradient @ gradient)
    predicted = (
        None
        if learning_rate is None
        else 0.5 * learning_rate**2 * g_hessian_g - learning_rate * g_g
    )
    optimal = g_g / g_hessian_g if g_hessian_g > 0 else None
    return GradientCurvature(float(loss), g_g, g_hessian_g, learning_rate, predicted, optimal)
