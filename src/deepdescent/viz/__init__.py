"""Pictures of optimization: learning curves and movies of optimizers' paths
(matplotlib, imported only when used)."""

from __future__ import annotations

from deepdescent.viz.curves import plot_history
from deepdescent.viz.movie import MovieFiles, PathMovie, save_movie

__all__ = ["MovieFiles", "PathMovie", "plot_history", "save_movie"]
