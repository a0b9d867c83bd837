r"""Loss landscapes: one line and one plane through parameter space.

* **The line from initialization to solution** (Goodfellow, Vinyals & Saxe 2015):
  J((1 − α) θ₀ + α θ₁) for α over [0, 1] and a little beyond. A monotone, nearly convex
  curve says the path a straight line would take meets no barrier; Goodfellow et al. found
  this for many networks, so what makes training hard is not local minima on the way but
  the route SGD takes (ill-conditioning, §8.2.1, 8.2.7).
* **Filter-normalized 2-D slices** (Li, Xu, Taylor, Studer & Goldstein 2018):
  J(θ* + α δ + β η) on a grid, with random Gaussian directions rescaled filter by filter,

      δ_{i,j} ← δ_{i,j} / ‖δ_{i,j}‖ · ‖θ*_{i,j}‖      (filter j of layer i),

  which removes the scale invariance of ReLU networks (scaling a layer by c and the next
  by 1/c changes the plot of raw directions, not the function): with it, the slice of the
  rescaled network is the slice of the original. A filter is an output unit: row j of a
  torch ``Linear`` / ``Conv`` weight, column j of a deepdescent (Keras-layout) kernel.
  One-dimensional parameters (biases) get a zero direction by default, as in Li et al.'s
  code (``ignore="biasbn"``); otherwise their direction is the parameter itself, as there.
* **The trajectory on its principal directions** (Li et al. 2018, §7): random directions
  are nearly orthogonal to the path of training, so the path is shown on the top two
  principal directions of the matrix [θ₀ − θ_T; …; θ_{T−1} − θ_T] instead, with each
  iterate's coordinates (θ_t − θ_T)·d and the share of variance each direction explains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from deepdescent.autodiff import flatten, unflatten
from deepdescent.diagnostics._objective import (
    LossArgument,
    as_vector,
    parameter_vector,
    resolve,
    seeded_generator,
    trainable,
)
from deepdescent.layers.base import Layer
from deepdescent.utils._checks import check_argument, check_count, is_number

__all__ = [
    "LossLine",
    "LossSurface",
    "TrajectoryProjection",
    "filter_normalized_direction",
    "linear_interpolation",
    "loss_surface_2d",
    "trajectory_directions",
]

NORMALIZATIONS = ("filter", "layer", None)


@dataclass
class LossLine:
    """J along a line: ``losses[i]`` at ``(1 − alphas[i]) θ₀ + alphas[i] θ₁``."""

    alphas: np.ndarray
    losses: np.ndarray


def _alphas(alphas: Any) -> np.ndarray:
    if alphas is None:
        return np.arange(-10, 31) / 20.0  # −0.5 … 1.5 with 0 and 1 exactly on the grid
    values = np.asarray(alphas, dtype=np.float64)
    ok = values.ndim == 1 and len(values) > 0 and bool(np.isfinite(values).all())
    check_argument("alphas", alphas, ok, "a non-empty 1-D sequence of finite numbers")
    return values


def linear_interpolation(
    model: torch.nn.Module,
    theta0: Any,
    theta1: Any,
    loss_fn: LossArgument,
    x: Any,
    y: Any,
    alphas: Sequence[float] | np.ndarray | None = None,
) -> LossLine:
    """J((1 − α) θ₀ + α θ₁) at each α (default −0.5 to 1.5 in steps of 0.05).

    ``theta0``/``theta1`` are flat vectors of the trainable parameters
    (:func:`~deepdescent.diagnostics.parameter_vector`) or one array per parameter (what
    ``get_weights`` returns). The model's parameters are restored afterwards.
    """
    objective = resolve(model, loss_fn, x, y)
    start, end = (
        as_vector(theta0, objective.params, "theta0"),
        as_vector(theta1, objective.params, "theta1"),
    )
    points = _alphas(alphas)
    losses = []
    for alpha in points:
        with objective.at((1 - alpha) * start + alpha * end):
            losses.append(objective.value())
    return LossLine(points, np.array(losses))


# -- directions ---------------------------------------------------------------------------


def _output_axes(model: torch.nn.Module) -> dict[int, int]:
    """For each parameter (by id), the axis that indexes its filters (output units)."""
    axes = {}
    for module in model.modules():
        axis = -1 if isinstance(module, Layer) else 0  # Keras layout vs torch layout
        for param in module.parameters(recurse=False):
            axes[id(param)] = axis
    return axes


def _normalize(
    direction: torch.Tensor, weight: torch.Tensor, axis: int, normalization: str | None
) -> torch.Tensor:
    if normalization is None:
        return direction
    if normalization == "layer" or weight.dim() < 2:
        return direction * (weight.norm() / (direction.norm() + 1e-10))
    moved_d, moved_w = direction.movedim(axis, 0), weight.movedim(axis, 0)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    d_norms = moved_d.reshape(len(moved_d), -1).norm(dim=1).reshape(shape)
    w_norms = moved_w.reshape(len(moved_w), -1).norm(dim=1).reshape(shape)
    return (moved_d * (w_norms / (d_norms + 1e-10))).movedim(0, axis)


def _direction(
    model: torch.nn.Module,
    params: Sequence[torch.Tensor],
    center: torch.Tensor,
    generator: torch.Generator,
    normalization: str | None,
    ignore_biases: bool,
) -> torch.Tensor:
    axes = _output_axes(model)
    parts = []
    for param, weight in zip(params, unflatten(center, params), strict=True):
        raw = torch.randn(param.shape, generator=generator, dtype=torch.float64).to(weight)
        if weight.dim() < 2 and normalization is not None:
            parts.append(torch.zeros_like(weight) if ignore_biases else weight.clone())
        else:
            parts.append(_normalize(raw, weight, axes[id(param)], normalization))
    return flatten(parts)


def _check_normalization(normalization: Any) -> None:
    check_argument(
        "normalization", normalization, normalization in NORMALIZATIONS, "'filter', 'layer' or None"
    )


def filter_normalized_direction(
    model: torch.nn.Module,
    seed: int = 0,
    normalization: str | None = "filter",
    ignore_biases: bool = True,
    center: Any = None,
) -> torch.Tensor:
    """A random Gaussian direction over the trainable parameters, rescaled filter by filter
    (``"filter"``), tensor by tensor (``"layer"``) or not at all (``None``) to the norms of
    ``center`` (default: the model's parameters); a flat vector."""
    _check_normalization(normalization)
    params = trainable(model)
    origin = parameter_vector(model) if center is None else as_vector(center, params, "center")
    return _direction(model, params, origin, seeded_generator(seed), normalization, ignore_biases)


# -- the surface --------------------------------------------------------------------------


@dataclass
class LossSurface:
    """J(center + α d₁ + β d₂) on a grid: ``losses[i, j]`` at ``(alphas[j], betas[i])``."""

    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray
    directions: torch.Tensor
    center: torch.Tensor


def _extent(extent: Any) -> tuple[float, float, float, float]:
    ok = (
        isinstance(extent, (tuple, list))
        and len(extent) == 4
        and all(is_number(v) for v in extent)
        and extent[0] < extent[1]
        and extent[2] < extent[3]
    )
    check_argument("extent", extent, ok, "(alpha_min, alpha_max, beta_min, beta_max), min < max")
    return (float(extent[0]), float(extent[1]), float(extent[2]), float(extent[3]))


def loss_surface_2d(
    model: torch.nn.Module,
    loss_fn: LossArgument,
    x: Any,
    y: Any,
    directions: Any = None,
    center: Any = None,
    extent: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0),
    resolution: int = 21,
    normalization: str | None = "filter",
    ignore_biases: bool = True,
    seed: int = 0,
) -> LossSurface:
    """J on the plane ``center + α d₁ + β d₂`` over a ``resolution`` × ``resolution`` grid.

    Args:
        model, loss_fn, x, y: the cost J(θ) on a batch (see :mod:`deepdescent.diagnostics`).
        directions: ``(2, n)`` directions (e.g. :func:`trajectory_directions`' ), used as
            given; by default two random filter-normalized ones drawn from ``seed``.
        center: the plane's origin (default: the model's parameters, restored after).
        extent: ``(α_min, α_max, β_min, β_max)``.
        resolution: grid points per axis.
        normalization, ignore_biases: how random directions are rescaled
            (:func:`filter_normalized_direction`).
    """
    objective = resolve(model, loss_fn, x, y)
    _check_normalization(normalization)
    resolution = check_count("resolution", resolution, minimum=2)
    a_min, a_max, b_min, b_max = _extent(extent)
    origin = objective.vector() if center is None else as_vector(center, objective.params, "center")
    if directions is None:
        generator = seeded_generator(seed)
        plane = torch.stack(
            [
                _direction(model, objective.params, origin, generator, normalization, ignore_biases)
                for _ in range(2)
            ]
        )
    else:
        plane = torch.as_tensor(directions).to(origin)
        check_argument(
            "directions",
            f"shape {tuple(plane.shape)}",
            tuple(plane.shape) == (2, objective.size),
            f"two directions over the {objective.size} trainable parameters, shape (2, n)",
        )
    alphas, betas = np.linspace(a_min, a_max, resolution), np.linspace(b_min, b_max, resolution)
    losses = np.empty((resolution, resolution))
    for i, beta in enumerate(betas):
        for j, alpha in enumerate(alphas):
            with objective.at(origin + float(alpha) * plane[0] + float(beta) * plane[1]):
                losses[i, j] = objective.value()
    return LossSurface(alphas, betas, losses, plane, origin)


# -- the trajectory -----------------------------------------------------------------------


@dataclass
class TrajectoryProjection:
    """A training path seen on its top two principal directions.

    Attributes:
        directions: ``(2, n)`` orthonormal directions.
        coordinates: ``(T, 2)`` coordinates (θ_t − center)·d of each iterate.
        explained_variance_ratio: the share of the path's variance along each direction.
        center: the reference point, the last iterate θ_T by default.
    """

    directions: torch.Tensor
    coordinates: np.ndarray
    explained_variance_ratio: np.ndarray
    center: torch.Tensor


def trajectory_directions(trajectory: Any, center: Any = None) -> TrajectoryProjection:
    """Principal directions of a path of iterates (Li et al. 2018, §7).

    ``trajectory`` is a ``(T, n)`` array or tensor (or a list of flat vectors), T ≥ 3,
    e.g. ``TrajectoryRecorder.trajectory``; ``center`` defaults to its last row.
    """
    if isinstance(trajectory, (list, tuple)):
        path = torch.stack([torch.as_tensor(np.asarray(row)) for row in trajectory])
    else:
        path = torch.as_tensor(np.asarray(trajectory))
    check_argument(
        "trajectory",
        f"shape {tuple(path.shape)}",
        path.dim() == 2 and len(path) >= 3,
        "(T, n) iterates with T >= 3",
    )
    path = path.to(torch.float64)
    origin = path[-1] if center is None else torch.as_tensor(center).to(path)
    differences = path - origin
    centered = differences - differences.mean(dim=0)
    _, singular, right = torch.linalg.svd(centered, full_matrices=False)
    directions = right[:2]
    variance = singular**2
    ratio = (variance[:2] / variance.sum()).numpy() if float(variance.sum()) > 0 else np.zeros(2)
    return TrajectoryProjection(directions, (differences @ directions.T).numpy(), ratio, origin)
