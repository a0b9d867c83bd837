"""ReduceLROnPlateau: cut the learning rate when a monitored quantity stops improving."""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs, emit
from deepdescent.callbacks.monitor import Monitor
from deepdescent.utils._checks import check_argument, check_count, check_non_negative, is_real

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    .. math::
        ε \\leftarrow \\max(ε \\cdot \\text{factor}, \\text{min\\_lr})

    Keras's rules: an epoch improves when ``monitor`` beats the best value by more than
    ``min_delta``; otherwise ``wait`` grows, and at ``wait >= patience`` the rate is cut
    (unless already at ``min_lr``), ``wait`` resets and ``cooldown`` epochs follow during
    which ``wait`` stays at 0. The current rate is written to the epoch's logs as
    ``"learning_rate"``.

    Warning:
        Keras's ``mode="auto"`` maximizes any name containing "acc" and minimizes every
        other; here other names are inferred too (AUC, precision, recall are maximized)
        and an unknown name asks for an explicit ``mode``.

    Args:
        monitor: the log key to watch.
        factor: the cut, ``new_lr = lr * factor``, in [0, 1).
        patience: epochs without improvement before a cut, >= 0.
        verbose: 1 writes a line at each cut.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        min_delta: the smallest change that counts as an improvement, >= 0.
        cooldown: epochs to wait after a cut before counting again, >= 0.
        min_lr: the floor of the learning rate, >= 0.
        stream: where verbose lines go (default: standard output).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__()
        ok = is_real(factor) and 0 <= factor < 1
        check_argument("factor", factor, ok, "a number in [0, 1); ReduceLROnPlateau only reduces")
        check_count("patience", patience, minimum=0)
        check_count("cooldown", cooldown, minimum=0)
        check_non_negative("min_lr", min_lr)
        self._monitor = Monitor("ReduceLROnPlateau", monitor, mode, min_delta)
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode, self.min_delta, self.cooldown, self.min_lr = mode, min_delta, cooldown, min_lr
        self.stream = stream
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.cooldown_counter = 0
        self.best = self._monitor.worst

    def in_cooldown(self) -> bool:
        """Whether the callback is in the cooldown that follows a cut."""
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if isinstance(logs, MutableMapping):
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = self._monitor.read(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._monitor.improved(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch: int) -> None:
        old_lr = float(self.model.optimizer.learning_rate)
        # A rate already at the floor (up to rounding) is left alone, as Keras does.
        if old_lr <= self.min_lr or math.isclose(old_lr, self.min_lr, rel_tol=1e-6):
            return
        new_lr = max(old_lr * self.factor, self.min_lr)
        self.model.optimizer.learning_rate = new_lr
        if self.verbose > 0:
            emit(
                self.stream,
                f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.",
            )
        self.cooldown_counter = self.cooldown
        self.wait = 0

    def state_dict(self) -> dict[str, Any]:
        return {"wait": self.wait, "cooldown_counter": self.cooldown_counter, "best": self.best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.wait, self.cooldown_counter = int(state["wait"]), int(state["cooldown_counter"])
        self.best = float(state["best"])

    def get_config(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "factor": self.factor,
            "patience": self.patience,
            "verbose": self.verbose,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
        }
