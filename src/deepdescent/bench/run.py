"""One run of a comparison: an optimizer with one setting on a problem, from the initial
weights and the data order of one seed, recorded epoch by epoch.

Every run goes through ``fit``, so the optimizer is driven exactly as a user's would be.
``set_random_seed(seed)`` comes before the model is built and before ``fit``, which seeds
its minibatch order from torch's global generator: for a given seed every optimizer
starts from the same weights and sees the same minibatches. After each epoch the
training and validation sets are evaluated at the current weights; the clock counts
training only (AlgoPerf's rule: the time spent evaluating is left out). The count of
loss-and-gradient evaluations is the trainer's own (``model.trainer.evaluations``), so
counting slows no step and leaves the gradient path as it was.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, TextIO, cast

import numpy as np
import torch

from deepdescent.callbacks import Callback
from deepdescent.callbacks.logs import Logs
from deepdescent.callbacks.progbar_logger import _Progbar
from deepdescent.problems.training_problem import Setting, Splits, Target, TrainingProblem
from deepdescent.training.numerics import NonFiniteError, NonFinitePolicy

if TYPE_CHECKING:
    from deepdescent.models import Model

__all__ = ["EVALUATION_BATCH_SIZE", "DeviceData", "RunRecord", "train_run"]

#: Minibatch size of the evaluation passes (forward only, so larger than training's).
EVALUATION_BATCH_SIZE = 2048
_clock = time.perf_counter


@dataclasses.dataclass(frozen=True)
class DeviceData:
    """A problem's :class:`~deepdescent.problems.Splits` as tensors on one device, moved
    there once for all the runs of a comparison."""

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]

    @classmethod
    def from_splits(cls, splits: Splits, device: torch.device | str) -> DeviceData:
        def move(*arrays: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            x, y = (torch.as_tensor(a).to(device) for a in arrays)
            return x, y

        return cls(
            move(splits.x_train, splits.y_train),
            move(splits.x_val, splits.y_val),
            move(splits.x_test, splits.y_test),
        )


@dataclasses.dataclass
class RunRecord:
    """What one run did.

    Attributes:
        optimizer: the catalogue name.
        seed: the seed of the initial weights and the data order.
        setting: the hyperparameters and batch size it ran with.
        curves: at the initial weights (epoch 0) and after each epoch: ``epoch``,
            ``time`` (training seconds so far), ``evaluations`` (so far), and the loss and
            metrics of the whole training set (``loss``, ``accuracy``) and of the
            validation set (``val_loss``, ``val_accuracy``) at those weights.
        final: ``loss``, ``val_loss``, ``test_loss`` (and ``accuracy``, ``val_accuracy``,
            ``test_accuracy`` for a classifier) at the final weights; empty once diverged.
        seconds: the training time (evaluations left out).
        evaluations: the loss-and-gradient evaluations (closure calls) of the run.
        diverged_at: the epoch at the end of which the loss was no longer finite
            (training stopped there), or ``None``.
        target_epoch, target_seconds: the first epoch, and the training time, at the end
            of which the target was reached (0: at the initial weights); ``None`` if it
            never was.
        note: why the run stopped, when the optimizer refused to go on from weights where
            the loss is not finite (a line search needs a finite loss).
    """

    optimizer: str
    seed: int
    setting: Setting
    curves: dict[str, list[float]]
    final: dict[str, float]
    seconds: float
    evaluations: int
    diverged_at: int | None
    target_epoch: int | None
    target_seconds: float | None
    note: str = ""

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None


def _evaluate(
    model: Model, data: tuple[torch.Tensor, torch.Tensor], prefix: str
) -> dict[str, float]:
    logs = model.evaluate(*data, batch_size=EVALUATION_BATCH_SIZE, verbose=0, return_dict=True)
    return {prefix + name: float(value) for name, value in cast(dict, logs).items()}


class _Recorder(Callback):
    """Records the loss and metrics of the training and validation sets at the initial
    weights and after each epoch, with the training time and evaluation count so far;
    stops a run whose loss is no longer finite, and marks one in which ``fit`` refused a
    non-finite step diverged."""

    def __init__(self, data: DeviceData, target: Target) -> None:
        super().__init__()
        self.data, self.target = data, target
        self.curves: dict[str, list[float]] = {}
        self.diverged_at: int | None = None
        self.target_epoch: int | None = None
        self.target_seconds: float | None = None
        self.seconds = 0.0
        self.evaluations = 0
        self._start = 0.0
        self._evaluating = 0.0

    def last(self) -> dict[str, float]:
        """The quantities of the last row recorded."""
        return {name: values[-1] for name, values in self.curves.items()}

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._record(0)
        self._start, self._evaluating = _clock(), 0.0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        # fit has read the epoch's logs as host floats: the device has finished its work.
        self.seconds = _clock() - self._start - self._evaluating
        self.evaluations = self.model.trainer.evaluations
        began = _clock()
        self._record(epoch + 1)
        self._evaluating += _clock() - began
        if logs is not None and logs.get("skipped_steps", 0) and self.diverged_at is None:
            # fit refused a non-finite step in this epoch and put back the last good
            # weights (the row recorded): the run diverged here.
            self.diverged_at = epoch + 1

    def _record(self, epoch: int) -> None:
        row = {
            "epoch": float(epoch),
            "time": self.seconds,
            "evaluations": float(self.evaluations),
            **_evaluate(self.model, self.data.train, ""),
            **_evaluate(self.model, self.data.val, "val_"),
        }
        for name, value in row.items():
            self.curves.setdefault(name, []).append(value)
        if not all(math.isfinite(row[k]) for k in ("loss", "val_loss")):
            self.diverged_at = epoch
            self.model.stop_training = True
        elif self.target_epoch is None and self.target.reached(row[self.target.metric]):
            self.target_epoch, self.target_seconds = epoch, self.seconds


class _RunProgress(Callback):
    """The project's Keras-style bar over all the steps of one run; its last line shows
    the run's final training and validation quantities."""

    def __init__(self, stream: TextIO, recorder: _Recorder) -> None:
        super().__init__()
        self.stream, self.recorder = stream, recorder
        self._bar: _Progbar | None = None
        self._done = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        total = int(self.params["epochs"]) * int(self.params["steps"])
        self._bar = _Progbar(total, 1, self.stream)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.update(self._done, logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        shown = {k: v for k, v in self.recorder.last().items() if "loss" in k or "accuracy" in k}
        if self._bar is not None:
            self._bar.update(self._done, shown, finalize=True)


def train_run(
    problem: TrainingProblem,
    data: DeviceData,
    optimizer: str,
    setting: Setting,
    *,
    seed: int,
    epochs: int,
    target: Target,
    progress: TextIO | None = None,
) -> RunRecord:
    """Train ``problem``'s model with ``optimizer`` and ``setting`` for ``epochs`` epochs
    from seed ``seed``, and record it (see :class:`RunRecord`); with a ``progress``
    stream, a progress bar over the run's steps is drawn on it."""
    from deepdescent.recipe import make_optimizer
    from deepdescent.utils import set_random_seed

    spec = make_optimizer(optimizer, options=setting.hyperparameters)
    x_train, y_train = data.train
    set_random_seed(seed)
    model = problem.build()
    model.to(x_train.device)
    model.compile(optimizer=spec, loss=problem.loss, metrics=list(problem.metrics))
    recorder = _Recorder(data, target)
    callbacks: list[Callback] = [recorder]
    if progress is not None:
        callbacks.append(_RunProgress(progress, recorder))
    batch_size = len(x_train) if setting.batch_size is None else setting.batch_size
    note = ""
    try:
        # A comparison counts a run diverged at its first non-finite step.
        model.fit(
            x_train,
            y_train,
            batch_size=batch_size,
            epochs=epochs,
            verbose=0,
            callbacks=callbacks,
            nonfinite=NonFinitePolicy(patience=1),
        )
    except (ArithmeticError, RuntimeError, ValueError) as error:
        # fit's guard stopped steps that stayed non-finite (and put back the last good
        # weights), or a method that needs a finite loss refused to step from weights
        # where it is not: this run diverging (within the epoch it was in), not a fault.
        stopped = isinstance(error, NonFiniteError)
        if not stopped and math.isfinite(_evaluate(model, data.train, "")["loss"]):
            raise
        if recorder.diverged_at is None:
            recorder.diverged_at = len(recorder.curves["epoch"])
        note = f"{type(error).__name__}: {error}"
        for callback in callbacks:
            callback.on_train_end()
    final = {}
    if recorder.diverged_at is None:
        final = {
            **_evaluate(model, data.train, ""),
            **_evaluate(model, data.val, "val_"),
            **_evaluate(model, data.test, "test_"),
        }
    return RunRecord(
        optimizer=optimizer,
        seed=seed,
        setting=setting,
        curves=recorder.curves,
        final=final,
        seconds=recorder.seconds,
        evaluations=recorder.evaluations,
        diverged_at=recorder.diverged_at,
        target_epoch=recorder.target_epoch,
        target_seconds=recorder.target_seconds,
        note=note,
    )
