"""A problem to train optimizers on through ``fit``: its data (training, validation and
test sets), its model, its cost, a target to reach, and settings with which each
optimizer works on it — what a fair comparison of optimizers needs to know.

A model is built from torch's global generator, so :func:`deepdescent.utils.set_random_seed`
before :attr:`TrainingProblem.build` fixes its initial weights (and, since ``fit`` seeds
its minibatch order from the same generator, the order the data are seen in).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from deepdescent.utils._checks import check_argument, check_count

if TYPE_CHECKING:
    from deepdescent.models import Model

__all__ = ["DataSource", "Setting", "Splits", "Target", "TrainingProblem"]


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where a problem's data come from.

    Attributes:
        path: a folder holding the dataset's files (``None``: the dataset's usual places).
        limit: use only the first ``limit`` training samples (``None``: all of them).
    """

    path: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None:
            check_count("limit", self.limit)


@dataclasses.dataclass(frozen=True)
class Splits:
    """Inputs and targets of the training, validation and test sets."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclasses.dataclass(frozen=True)
class Target:
    """The result to reach, AlgoPerf-style: ``metric`` (a validation quantity,
    ``"val_accuracy"`` or ``"val_loss"``) at least ``value`` for an accuracy, at most
    ``value`` for a loss (Dahl et al., "Benchmarking neural network training algorithms",
    2023, §4)."""

    metric: str
    value: float

    def __post_init__(self) -> None:
        check_argument(
            "metric",
            self.metric,
            self.metric.startswith("val_"),
            "a validation quantity such as 'val_accuracy' or 'val_loss'",
        )

    @property
    def higher_is_better(self) -> bool:
        """Whether the metric is an accuracy (else a loss)."""
        return self.metric.endswith("accuracy")

    def reached(self, value: float) -> bool:
        """Whether ``value`` of the metric meets the target (``NaN`` never does)."""
        return value >= self.value if self.higher_is_better else value <= self.value

    def with_value(self, value: float) -> Target:
        """The same metric with another value to reach."""
        return dataclasses.replace(self, value=float(value))

    def __str__(self) -> str:
        return f"{self.metric} {'≥' if self.higher_is_better else '≤'} {self.value:g}"


@dataclasses.dataclass(frozen=True)
class Setting:
    """How one optimizer is run on a problem.

    Attributes:
        hyperparameters: keyword arguments of its catalogue entry's ``build``.
        batch_size: the minibatch size; ``None``: the whole training set per step (a batch
            method, Goodfellow et al. §8.1.3).
    """

    hyperparameters: dict[str, Any]
    batch_size: int | None


@dataclasses.dataclass(frozen=True)
class TrainingProblem:
    """A problem optimizers are compared on.

    Attributes:
        name: its identifier (``"lecture_mlp"``; matched without case, ``_`` or ``-``).
        summary: one line for the report.
        load: the data from a :class:`DataSource`.
        build: a fresh, uncompiled model whose parameters are drawn from torch's global
            generator.
        loss: the cost, as ``compile`` takes it.
        metrics: the metrics ``compile`` takes (``()``: the loss only).
        target: the default result to reach.
        setting: a working :class:`Setting` for an optimizer of the catalogue, by name.
    """

    name: str
    summary: str
    load: Callable[[DataSource], Splits]
    build: Callable[[], Model]
    loss: Any
    metrics: tuple[str, ...]
    target: Target
    setting: Callable[[str], Setting]
