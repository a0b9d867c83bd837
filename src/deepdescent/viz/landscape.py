"""Pictures of the loss landscape: lines and planes through parameter space."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from deepdescent.viz._figure import save, subplots

if TYPE_CHECKING:
    from deepdescent.diagnostics import LossLine, LossSurface

__all__ = ["plot_interpolation", "plot_surface"]


def plot_interpolation(
    lines: Mapping[str, LossLine], path: str | os.PathLike[str], title: str | None = None
) -> None:
    """J((1 − α)θ₀ + αθ₁) against α for each line (label → line), α = 0 and 1 marked."""
    figure, axes = subplots(1)
    axis = axes[0][0]
    for label, line in lines.items():
        axis.plot(line.alphas, line.losses, label=label)
    for alpha in (0.0, 1.0):
        axis.axvline(alpha, color="gray", linewidth=0.8, linestyle="--")
    axis.set(xlabel="α  (0: initialization, 1: solution)", ylabel="loss", yscale="log")
    axis.grid(alpha=0.3)
    axis.legend()
    save(figure, path, title)


def plot_surface(
    surface: LossSurface,
    path: str | os.PathLike[str],
    trajectory: np.ndarray | None = None,
    title: str | None = None,
) -> None:
    """Contours of the loss on the plane (log-spaced levels), with a trajectory's
    coordinates (``TrajectoryProjection.coordinates``) drawn on it when given."""
    figure, axes = subplots(1, size=(6.0, 5.0))
    axis = axes[0][0]
    losses = np.asarray(surface.losses)
    low, high = float(losses.min()), float(losses.max())
    levels = np.geomspace(max(low, 1e-12), high, 30) if high > max(low, 1e-12) else 10
    contours = axis.contour(surface.alphas, surface.betas, losses, levels=levels, cmap="viridis")
    figure.colorbar(contours, ax=axis, label="loss")
    if trajectory is not None:
        axis.plot(
            trajectory[:, 0], trajectory[:, 1], color="red", marker=".", label="training path"
        )
        axis.scatter(trajectory[:1, 0], trajectory[:1, 1], color="red", marker="s", label="start")
        axis.legend()
    axis.scatter([0.0], [0.0], color="black", marker="*", s=80)
    axis.set(xlabel="direction 1", ylabel="direction 2")
    save(figure, path, title)
