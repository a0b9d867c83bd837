"""The training problems by name: the three Fashion-MNIST networks, the noisy quadratic,
and the 2-D test functions of the movies."""

from __future__ import annotations

from deepdescent.problems.fashion_mnist import deep_relu_mlp, lecture_mlp, logistic_regression
from deepdescent.problems.function_problem import function_problem
from deepdescent.problems.functions import FUNCTIONS
from deepdescent.problems.noisy_quadratic import noisy_quadratic
from deepdescent.problems.training_problem import TrainingProblem
from deepdescent.utils._lookup import lookup

__all__ = ["PROBLEMS", "get_problem"]

#: name → problem; names are matched without case, ``_`` or ``-`` (``lecture-mlp``).
PROBLEMS: dict[str, TrainingProblem] = {
    problem.name: problem
    for problem in (
        lecture_mlp,
        logistic_regression,
        deep_relu_mlp,
        noisy_quadratic,
        *(function_problem(function) for function in FUNCTIONS.values()),
    )
}


def get_problem(name: str) -> TrainingProblem:
    """The training problem called ``name``, or a ``ValueError`` listing the valid names."""
    return lookup("problem", name, PROBLEMS)
