"""Pictures of optimization: learning curves, movies of optimizers' paths and the
diagnostics' figures (matplotlib, imported only when a figure is drawn)."""

from __future__ import annotations

from deepdescent.viz.curves import plot_history
from deepdescent.viz.landscape import plot_interpolation, plot_surface
from deepdescent.viz.movie import MovieFiles, PathMovie, save_movie
from deepdescent.viz.noise import plot_gradient_noise
from deepdescent.viz.spectrum import plot_spectral_density
from deepdescent.viz.training import (
    plot_cliffs,
    plot_curvature,
    plot_gradient_norm_and_error,
    plot_learning,
    plot_saturation,
)

__all__ = [
    "MovieFiles",
    "PathMovie",
    "plot_cliffs",
    "plot_curvature",
    "plot_gradient_noise",
    "plot_gradient_norm_and_error",
    "plot_history",
    "plot_interpolation",
    "plot_learning",
    "plot_saturation",
    "plot_spectral_density",
    "plot_surface",
    "save_movie",
]
