"""Classification of Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) by three networks: the
lecture's 784-32-10 network, logistic regression, and a deeper ReLU network.

The images are flattened and scaled to [0, 1], the labels one-hot; the last 10% of the
60,000 training images are the validation set (Keras's ``validation_split=0.1``) and the
10,000 test images the test set. Each optimizer starts from the settings its catalogue
entry gives for the lecture network (:class:`~deepdescent.optimizers.catalogue.LectureRecipe`:
its hyperparameters and its batch size, the whole training set for a batch method), which
work on all three networks; minibatches are 128 images otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from deepdescent.problems.training_problem import (
    DataSource,
    Setting,
    Splits,
    Target,
    TrainingProblem,
)
from deepdescent.utils._checks import check_argument

if TYPE_CHECKING:
    from deepdescent.models import Sequential

__all__ = [
    "VALIDATION_FRACTION",
    "deep_relu_mlp",
    "lecture_mlp",
    "lecture_setting",
    "load",
    "logistic_regression",
]

VALIDATION_FRACTION = 0.1
PIXELS = 784


def load(source: DataSource) -> Splits:
    """Fashion-MNIST from ``source`` as the recipe prepares it (flattened, in [0, 1],
    one-hot labels), the last 10% of the (limited) training images held out for
    validation."""
    from deepdescent.recipe import load_dataset

    (x, y), (x_test, y_test) = load_dataset("fashion_mnist", source.path, limit=source.limit)
    split = int(len(x) * (1 - VALIDATION_FRACTION))
    check_argument(
        "limit",
        source.limit,
        0 < split < len(x),
        "enough training samples to hold out a validation set (at least 2)",
    )
    return Splits(x[:split], y[:split], x[split:], y[split:], x_test, y_test)


def _network(hidden: Sequence[int], activation: str, name: str) -> Sequential:
    from deepdescent.recipe import build_model

    return build_model(PIXELS, hidden, activation, name=name)


def lecture_setting(optimizer: str) -> Setting:
    """The catalogue's lecture recipe of ``optimizer``: its hyperparameters and batch size."""
    from deepdescent.optimizers import catalogue

    recipe = catalogue.info(optimizer).lecture
    return Setting(dict(recipe.kwargs), recipe.batch_size)


def _classifier(
    name: str, summary: str, hidden: Sequence[int], activation: str, target: float
) -> TrainingProblem:
    return TrainingProblem(
        name=name,
        summary=summary,
        load=load,
        build=lambda: _network(hidden, activation, name),
        loss="categorical_crossentropy",
        metrics=("accuracy",),
        target=Target("val_accuracy", target),
        setting=lecture_setting,
    )


lecture_mlp = _classifier(
    "lecture_mlp",
    "the lecture's 784-32-10 network (sigmoid hidden layer, softmax output) on Fashion-MNIST",
    [32],
    "sigmoid",
    0.84,
)
logistic_regression = _classifier(
    "logistic_regression",
    "logistic regression (784-10, softmax) on Fashion-MNIST: a convex problem",
    [],
    "sigmoid",
    0.82,
)
deep_relu_mlp = _classifier(
    "deep_relu_mlp",
    "a deeper ReLU network, 784-128-128-128-128-10, on Fashion-MNIST",
    [128, 128, 128, 128],
    "relu",
    0.86,
)
