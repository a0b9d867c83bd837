"""Problems to run optimizers on: the 2-D test functions of the movies, with their known
minima, and a recorder of the paths optimizers take on them."""

from __future__ import annotations

from deepdescent.problems.function2d import LEARNING_RATE_FAMILIES, Function2D, Point, noisy
from deepdescent.problems.functions import FUNCTIONS, get_function
from deepdescent.problems.trajectory import (
    Trajectory,
    optimizer_names,
    record_trajectories,
    record_trajectory,
)

__all__ = [
    "FUNCTIONS",
    "LEARNING_RATE_FAMILIES",
    "Function2D",
    "Point",
    "Trajectory",
    "get_function",
    "noisy",
    "optimizer_names",
    "record_trajectories",
    "record_trajectory",
]
