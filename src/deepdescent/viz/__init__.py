"""Pictures of optimization: learning curves, movies of optimizers' paths, the plots of a
comparison and self-contained HTML reports (matplotlib, imported only when used)."""

from __future__ import annotations

from deepdescent.viz.comparison import plot_curves, plot_search
from deepdescent.viz.curves import plot_history
from deepdescent.viz.movie import MovieFiles, PathMovie, save_movie
from deepdescent.viz.report import ReportFigure, ReportTable, write_report

__all__ = [
    "MovieFiles",
    "PathMovie",
    "ReportFigure",
    "ReportTable",
    "plot_curves",
    "plot_history",
    "plot_search",
    "save_movie",
    "write_report",
]
