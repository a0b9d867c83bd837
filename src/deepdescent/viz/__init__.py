"""Pictures of optimization: learning curves, movies of optimizers' paths, the
diagnostics' figures, the plots of a comparison and self-contained HTML reports
(matplotlib, imported only when a figure is drawn)."""

from __future__ import annotations

from deepdescent.viz.comparison import plot_curves, plot_search
from deepdescent.viz.curves import plot_history
from deepdescent.viz.landscape import plot_interpolation, plot_surface
from deepdescent.viz.movie import MovieFiles, PathMovie, save_movie
from deepdescent.viz.noise import plot_gradient_noise
from deepdescent.viz.report import ReportFigure, ReportTable, write_report
from deepdescent.viz.spectrum import plot_spectral_density
from deepdescent.viz.training import (
    plot_cliffs,
    plot_curvature,
    plot_gradient_norm_and_error,
    plot_learning,
    plot_measurements,
    plot_saturation,
)

__all__ = [
    "MovieFiles",
    "PathMovie",
    "ReportFigure",
    "ReportTable",
    "plot_cliffs",
    "plot_curvature",
    "plot_curves",
    "plot_gradient_noise",
    "plot_gradient_norm_and_error",
    "plot_history",
    "plot_interpolation",
    "plot_learning",
    "plot_measurements",
    "plot_saturation",
    "plot_search",
    "plot_spectral_density",
    "plot_surface",
    "save_movie",
    "write_report",
]
