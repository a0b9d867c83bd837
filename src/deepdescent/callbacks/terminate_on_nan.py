"""TerminateOnNaN: stop training as soon as the loss is NaN or infinite."""

from __future__ import annotations

import math
import warnings

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stop ``fit`` at the first batch whose loss is NaN or ±inf, or whose step ``fit``
    skipped for a non-finite loss or gradient.

    ``fit`` never applies a non-finite step (:mod:`deepdescent.training.numerics`): it
    skips it and counts it in the logs' ``skipped_steps``, and stops by itself after a
    few in a row. This callback stops at the first one instead. It reads the batch's
    ``"loss"`` every step, so it costs one host-device synchronisation per step. By
    default it warns and sets ``model.stop_training`` (the epoch ends and every
    ``on_train_end`` runs); with ``raise_error=True`` it raises ``RuntimeError`` at once
    instead. A run it stops keeps its :class:`~deepdescent.callbacks.BackupAndRestore`
    backups.

    Args:
        raise_error: raise instead of stopping gracefully.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            problem = f"invalid loss {loss}"
        elif logs.get("skipped_steps"):
            problem = "a non-finite loss or gradient (the step was skipped)"
        else:
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}: {problem}")
        warnings.warn(f"Batch {batch}: {problem}, terminating training", stacklevel=2)
        self.model.stop_training = True

    def get_config(self) -> dict[str, bool]:
        return {"raise_error": self.raise_error}
