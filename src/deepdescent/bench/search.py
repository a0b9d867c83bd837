"""The learning-rate search that makes a comparison fair: each optimizer gets the same
budget of trials, a log-spaced grid around the learning rate that works for it, scored on
the validation set (never the test set), and keeps the best.

The grid for a working rate ε₀ and span s with n trials is ε₀ · s^t for n values of t
evenly spaced in [−1, 1] (with n = 5, s = 10: ε₀/10, ε₀/√10, ε₀, √10 ε₀, 10 ε₀), so every
optimizer is searched over the same relative range. A trial trains for the budget's
epochs from the first seed and is scored by the target's metric at its end; a trial that
diverges scores worst. Tuning on the validation split is the protocol of Choi et al.,
"On Empirical Comparisons of Optimizers for Deep Learning" (2019), who show that
comparisons without it can be turned around by the search budget alone.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TextIO

import numpy as np

from deepdescent.bench.run import DeviceData, train_run
from deepdescent.callbacks.logs import emit
from deepdescent.problems.training_problem import Setting, Target, TrainingProblem
from deepdescent.utils._checks import check_argument, check_count, is_number

__all__ = ["Search", "SearchBudget", "Trial", "learning_rate", "search_learning_rate"]


@dataclasses.dataclass(frozen=True)
class SearchBudget:
    """How much search each optimizer gets.

    Attributes:
        trials: learning rates tried (0 or 1: none, the working setting is kept).
        epochs: epochs per trial.
        span: the grid's factor on either side of the working rate (> 1).
    """

    trials: int = 5
    epochs: int = 1
    span: float = 10.0

    def __post_init__(self) -> None:
        check_count("trials", self.trials, minimum=0)
        check_count("epochs", self.epochs)
        check_argument("span", self.span, is_number(self.span) and self.span > 1, "a number > 1")

    def grid(self, learning_rate: float) -> list[float]:
        """The learning rates tried around ``learning_rate``."""
        if self.trials <= 1:
            return [learning_rate]
        exponents = np.linspace(-1.0, 1.0, self.trials)
        return [float(learning_rate * self.span**t) for t in exponents]


@dataclasses.dataclass(frozen=True)
class Trial:
    """One learning rate tried: the target metric at the end (``NaN`` if it diverged)."""

    learning_rate: float
    score: float
    diverged: bool
    seconds: float


@dataclasses.dataclass(frozen=True)
class Search:
    """An optimizer's search: the setting it started from, the trials, the setting
    chosen, and a note when the search could not choose."""

    optimizer: str
    start: Setting
    trials: tuple[Trial, ...]
    chosen: Setting
    metric: str
    note: str = ""


def learning_rate(optimizer: str, setting: Setting) -> float:
    """The learning rate ``optimizer`` runs with under ``setting``: its ``lr``, else the
    optimizer's default."""
    from deepdescent.recipe import make_optimizer

    rate = setting.hyperparameters.get("lr")
    if rate is None:
        rate = make_optimizer(optimizer, options=setting.hyperparameters).learning_rate
    return float(rate)


def search_learning_rate(
    problem: TrainingProblem,
    data: DeviceData,
    optimizer: str,
    setting: Setting,
    budget: SearchBudget,
    *,
    seed: int,
    target: Target,
    progress: TextIO | None = None,
) -> Search:
    """Try ``budget.grid`` around ``setting``'s learning rate and choose the one whose
    validation ``target.metric`` is best after ``budget.epochs`` epochs."""
    if budget.trials <= 1:
        return Search(optimizer, setting, (), setting, target.metric, "no search (one trial)")
    trials = []
    for index, rate in enumerate(budget.grid(learning_rate(optimizer, setting)), start=1):
        trial_setting = dataclasses.replace(
            setting, hyperparameters={**setting.hyperparameters, "lr": rate}
        )
        if progress is not None:
            emit(progress, f"search {optimizer} {index}/{budget.trials}: lr={rate:.3g}")
        run = train_run(
            problem,
            data,
            optimizer,
            trial_setting,
            seed=seed,
            epochs=budget.epochs,
            target=target,
            progress=progress,
        )
        score = math.nan if run.diverged else run.curves[target.metric][-1]
        trials.append(Trial(rate, score, run.diverged, run.seconds))
    finite = [t for t in trials if math.isfinite(t.score)]
    if not finite:
        note = "every trial diverged: the working setting is kept"
        return Search(optimizer, setting, tuple(trials), setting, target.metric, note)
    pick = max if target.higher_is_better else min
    best = pick(finite, key=lambda t: t.score)
    chosen = dataclasses.replace(
        setting, hyperparameters={**setting.hyperparameters, "lr": best.learning_rate}
    )
    ends = (trials[0].learning_rate, trials[-1].learning_rate)
    edge = len(trials) > 2 and best.learning_rate in ends
    note = "best at the edge of the grid: a wider span may find a better rate" if edge else ""
    return Search(optimizer, setting, tuple(trials), chosen, target.metric, note)
