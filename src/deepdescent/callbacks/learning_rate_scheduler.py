"""LearningRateScheduler: set the learning rate at the start of every epoch."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, MutableMapping
from typing import TextIO

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs, emit
from deepdescent.utils._checks import is_real

__all__ = ["LearningRateScheduler"]


def _takes_two_arguments(schedule: Callable[..., float]) -> bool:
    try:
        inspect.signature(schedule).bind(0, 0.0)
    except TypeError:
        return False
    except ValueError:  # builtins without a signature: assume Keras's two-argument form
        return True
    return True


class LearningRateScheduler(Callback):
    """Per-epoch learning rate: ``lr = schedule(epoch, lr)`` before each epoch.

    ``schedule`` gets the epoch index (from 0) and the current learning rate and returns
    the new one; a one-argument ``schedule(epoch)`` is accepted too (Keras's older form),
    so a :class:`~deepdescent.schedules.LearningRateSchedule` can be applied per epoch.
    The rate is set on ``model.optimizer.learning_rate`` (every parameter group) and
    written to the epoch's logs as ``"learning_rate"``.

    Args:
        schedule: ``(epoch, lr) -> lr`` or ``epoch -> lr``.
        verbose: 1 writes a line each time the rate is set.
        stream: where verbose lines go (default: standard output).
    """

    def __init__(
        self,
        schedule: Callable[..., float],
        verbose: int = 0,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"Invalid schedule: {schedule!r} (expected a callable (epoch, lr) -> lr)"
            )
        self.schedule, self.verbose, self.stream = schedule, verbose, stream
        self._with_lr = _takes_two_arguments(schedule)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = self.model.optimizer
        if self._with_lr:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        else:
            lr = self.schedule(epoch)
        ok = is_real(lr)
        if not ok or not math.isfinite(lr) or lr < 0:
            raise ValueError(
                f"The schedule returned {lr!r} for epoch {epoch} (expected a finite float >= 0)"
            )
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            emit(
                self.stream,
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.",
            )

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if isinstance(logs, MutableMapping):
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
