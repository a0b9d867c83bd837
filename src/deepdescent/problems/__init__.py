"""Problems to run optimizers on: the 2-D test functions of the movies, with their known
minima, and a recorder of the paths optimizers take on them; and the training problems
optimizers are compared on through ``fit`` (the Fashion-MNIST networks, the noisy
quadratic, the 2-D functions), each with its data, model, target and working settings."""

from __future__ import annotations

from deepdescent.problems.fashion_mnist import deep_relu_mlp, lecture_mlp, logistic_regression
from deepdescent.problems.function2d import (
    LEARNING_RATE_FAMILIES,
    Function2D,
    Point,
    learning_rate_for,
    noisy,
)
from deepdescent.problems.function_problem import function_problem
from deepdescent.problems.functions import FUNCTIONS, get_function
from deepdescent.problems.noisy_quadratic import noisy_quadratic
from deepdescent.problems.registry import PROBLEMS, get_problem
from deepdescent.problems.training_problem import (
    DataSource,
    Setting,
    Splits,
    Target,
    TrainingProblem,
)
from deepdescent.problems.trajectory import (
    Trajectory,
    optimizer_names,
    record_trajectories,
    record_trajectory,
)

__all__ = [
    "FUNCTIONS",
    "LEARNING_RATE_FAMILIES",
    "PROBLEMS",
    "DataSource",
    "Function2D",
    "Point",
    "Setting",
    "Splits",
    "Target",
    "TrainingProblem",
    "Trajectory",
    "deep_relu_mlp",
    "function_problem",
    "get_function",
    "get_problem",
    "learning_rate_for",
    "lecture_mlp",
    "logistic_regression",
    "noisy",
    "noisy_quadratic",
    "optimizer_names",
    "record_trajectories",
    "record_trajectory",
]
