"""EarlyStopping: stop training when a monitored quantity has stopped improving."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

import numpy as np

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs, emit
from deepdescent.callbacks.monitor import Monitor
from deepdescent.utils._checks import check_argument, check_count, is_real

__all__ = ["EarlyStopping"]


class EarlyStopping(Callback):
    """Stop ``fit`` once ``monitor`` has not improved for ``patience`` epochs (Keras's rules).

    Early stopping is the book's regularizer of §7.8 (Goodfellow et al., *Deep Learning*):
    keep the parameters of the epoch with the best validation score.

    At each epoch end (from ``start_from_epoch`` on) a counter ``wait`` goes up by one; an
    improvement over the best value so far by more than ``min_delta`` records the new
    best and, if it also beats ``baseline`` (when given), resets ``wait`` to 0. Training
    stops when ``wait >= patience`` at a non-improving epoch after the first. With
    ``restore_best_weights``, the weights of the best epoch are put back at the end of
    training, whether or not it stopped early.

    Args:
        monitor: the log key to watch, e.g. ``"val_loss"``.
        min_delta: the smallest change that counts as an improvement, >= 0.
        patience: epochs without improvement before stopping, >= 0.
        verbose: 1 writes a line when stopping and when restoring weights.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the name: losses down, accuracies up).
        baseline: a value the monitored quantity must beat to reset the patience.
        restore_best_weights: restore the best epoch's weights at the end of training.
        start_from_epoch: epochs to ignore at the start (warm-up), >= 0.
        stream: where verbose lines go (default: standard output).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__()
        self._monitor = Monitor("EarlyStopping", monitor, mode, min_delta)
        check_count("patience", patience, minimum=0)
        check_count("start_from_epoch", start_from_epoch, minimum=0)
        ok = baseline is None or (is_real(baseline))
        check_argument("baseline", baseline, ok, "a number or None")
        self.monitor, self.mode, self.min_delta = monitor, mode, min_delta
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch, self.stream = start_from_epoch, stream
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self._monitor.worst
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None

    def _snapshot(self, epoch: int) -> None:
        # Copies: a model's arrays may share memory with parameters that keep training.
        self.best_weights = [np.array(w, copy=True) for w in self.model.get_weights()]
        self.best_epoch = epoch

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = self._monitor.read(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self._snapshot(epoch)
        self.wait += 1
        if self._monitor.improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self._snapshot(epoch)
            if self.baseline is None or self._monitor.improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            emit(self.stream, f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                emit(
                    self.stream,
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}.",
                )
            self.model.set_weights(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.wait, self.stopped_epoch = int(state["wait"]), int(state["stopped_epoch"])
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        weights = state["best_weights"]
        self.best_weights = None if weights is None else [np.asarray(w) for w in weights]

    def get_config(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "min_delta": self.min_delta,
            "patience": self.patience,
            "verbose": self.verbose,
            "mode": self.mode,
            "baseline": self.baseline,
            "restore_best_weights": self.restore_best_weights,
            "start_from_epoch": self.start_from_epoch,
        }
