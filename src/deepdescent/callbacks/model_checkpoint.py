"""ModelCheckpoint: save the model (or its weights) every epoch, or every N batches."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, TextIO

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs, emit
from deepdescent.callbacks.monitor import Monitor, check_mode
from deepdescent.utils._checks import check_argument
from deepdescent.utils.io import check_not_keras_file

__all__ = ["ModelCheckpoint"]


class _Fields(dict[str, Any]):
    """``epoch``/``batch`` plus the logs, read only for the names a format string uses."""

    def __init__(self, fields: Mapping[str, int], logs: Logs) -> None:
        super().__init__(fields)
        self._logs = logs

    def __missing__(self, name: str) -> float:
        return self._logs[name]


class ModelCheckpoint(Callback):
    """Save the model with ``model.save`` (or ``model.save_weights``) as training goes.

    ``filepath`` may hold ``str.format`` fields filled with ``epoch`` (from 1), ``batch``
    (from 1, with an integer ``save_freq``) and any log key, e.g.
    ``"ckpt/{epoch:02d}-{val_loss:.2f}.safetensors"``; only the fields named are read from
    the logs. Writing is the model's job, and the model writes atomically (a temporary file
    renamed into place), so a failed save raises here and never leaves a half-written file
    under the final name.

    With ``save_best_only`` a save happens only when ``monitor`` improves on the best value
    so far (starting from ``initial_value_threshold`` when given); if the monitored key is
    missing, the model is saved anyway with a warning, as Keras does.

    Args:
        filepath: where to save; with ``save_weights_only`` it must end in ``.safetensors``.
        monitor: the log key that decides what "best" is.
        verbose: 1 writes a line for each save (and each skipped save).
        save_best_only: save only on improvement.
        save_weights_only: call ``model.save_weights`` instead of ``model.save``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the monitor's name).
        save_freq: ``"epoch"``, or an int N > 0 to save every N training batches.
        initial_value_threshold: the value a first save must beat with ``save_best_only``.
        stream: where verbose lines go (default: standard output).
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        check_not_keras_file(self.filepath, whole_model=not save_weights_only)
        ok = save_freq == "epoch" or (
            isinstance(save_freq, int) and not isinstance(save_freq, bool) and save_freq > 0
        )
        check_argument("save_freq", save_freq, ok, "'epoch' or an int > 0")
        if save_weights_only:
            ok = self.filepath.endswith(".safetensors")
            check_argument("filepath", self.filepath, ok, "a name ending in .safetensors")
        check_mode(mode)
        self._monitor = Monitor("ModelCheckpoint", monitor, mode, 0) if save_best_only else None
        self.monitor, self.verbose, self.mode, self.save_freq = monitor, verbose, mode, save_freq
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        self.initial_value_threshold, self.stream = initial_value_threshold, stream
        worst = self._monitor.worst if self._monitor is not None else math.inf
        threshold = initial_value_threshold
        self.best = worst if threshold is None else float(threshold)
        self._every = None if save_freq == "epoch" else int(save_freq)
        self._epoch = 0
        self._batches_since_save = 0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._every is None:
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self._every:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._every is None:
            self._save(epoch, None, logs or {})

    def _path(self, epoch: int, batch: int | None, logs: Logs) -> str:
        fields: dict[str, int] = {"epoch": epoch + 1}
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format_map(_Fields(fields, logs))
        except KeyError as error:
            raise KeyError(
                f"ModelCheckpoint cannot format filepath={self.filepath!r}: no {error} among "
                f"the fields {', '.join([*fields, *logs])}"
            ) from None

    def _should_save(self, epoch: int, logs: Logs, path: str) -> bool:
        if self._monitor is None:
            if self.verbose > 0:
                emit(self.stream, f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            self._monitor.read(logs)  # warns, naming the keys there are
            return True
        best = f"{self.best:.5f}"
        if self._monitor.improved(current, self.best):
            if self.verbose > 0:
                emit(
                    self.stream,
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                    f"{current:.5f}, saving model to {path}",
                )
            self.best = current
            return True
        if self.verbose > 0:
            emit(self.stream, f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch: int, batch: int | None, logs: Logs) -> None:
        path = self._path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        if os.path.isdir(path):
            raise IsADirectoryError(
                f"ModelCheckpoint filepath {path!r} is an existing directory; give a file name"
            )
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose > 0:
            emit(self.stream, f"\nEpoch {epoch + 1}: finished saving model to {path}")

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._batches_since_save = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "epoch": self._epoch,
            "batches_since_save": self._batches_since_save,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self._epoch = float(state["best"]), int(state["epoch"])
        self._batches_since_save = int(state["batches_since_save"])

    def get_config(self) -> dict[str, Any]:
        return {
            "filepath": self.filepath,
            "monitor": self.monitor,
            "verbose": self.verbose,
            "save_best_only": self.save_best_only,
            "save_weights_only": self.save_weights_only,
            "mode": self.mode,
            "save_freq": self.save_freq,
            "initial_value_threshold": self.initial_value_threshold,
        }
