"""The 2-D test functions of the movies as training problems, so that ``fit`` (and with it
the comparison harness) runs optimizers on them as on a network.

The model holds θ = (x, y), started at the function's start point, and outputs f(θ) for
every sample it is given; the loss is that output, so each training "sample" is one step
(minibatches of one) and an epoch is :data:`STEPS_PER_EPOCH` steps. The validation and
test sets are one sample: their loss is f at the current θ. With gradient noise
(:func:`~deepdescent.problems.function2d.noisy`) the noise's seed is drawn from torch's
global generator when the model is built, so each seed of a comparison meets other noise.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch

from deepdescent.problems.function2d import Function2D
from deepdescent.problems.training_problem import (
    DataSource,
    Setting,
    Splits,
    Target,
    TrainingProblem,
)

if TYPE_CHECKING:
    from deepdescent.models import Model

__all__ = ["STEPS_PER_EPOCH", "FunctionModule", "function_problem"]

STEPS_PER_EPOCH = 20
#: How close to the known minimum counts as reached; where f is unbounded below (the
#: saddles), the target is f ≤ −1: the path has left the saddle point.
TOLERANCE = 0.01
ESCAPED = -1.0


class FunctionModule(torch.nn.Module):
    """θ ∈ ℝ², started at ``function.start`` in float64; the output is f(θ) (with the
    function's gradient noise) repeated for each input row."""

    def __init__(self, function: Function2D) -> None:
        super().__init__()
        self.function = function
        self.theta = torch.nn.Parameter(torch.tensor(function.start, dtype=torch.float64))
        self.value = function.objective()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value(self.theta).expand(len(x), 1)


def function_value(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """The loss of a :class:`FunctionModule`: its output f(θ), whatever the target."""
    return y_pred[..., 0]


def _load(source: DataSource) -> Splits:
    steps = STEPS_PER_EPOCH if source.limit is None else source.limit
    train, one = np.zeros((steps, 1)), np.zeros((1, 1))
    return Splits(train, train, one, one, one, one)


def function_problem(function: Function2D) -> TrainingProblem:
    """``function`` as a :class:`TrainingProblem` (see the module's docstring)."""

    def build() -> Model:
        from deepdescent.models import Model

        drawn = function
        if function.gradient_noise:
            drawn = dataclasses.replace(function, seed=int(torch.randint(0, 2**31, ())))
        return Model(FunctionModule(drawn), name=function.name)

    def setting(optimizer: str) -> Setting:
        return Setting(function.settings(optimizer), 1)

    target = ESCAPED if function.minimum is None else function.minimum + TOLERANCE
    return TrainingProblem(
        name=function.name,
        summary=f"the 2-D function {function.name}, f(x, y) = {function.formula}, "
        f"from {function.start}, {STEPS_PER_EPOCH} steps per epoch",
        load=_load,
        build=build,
        loss=function_value,
        metrics=(),
        target=Target("val_loss", target),
        setting=setting,
    )
