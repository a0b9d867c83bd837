"""TerminateOnNaN: stop training as soon as the loss is NaN or infinite."""

from __future__ import annotations

import math
import warnings

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stop ``fit`` at the first batch whose loss is NaN or ±inf.

    It reads the batch's ``"loss"`` every step, so it costs one host-device
    synchronisation per step. By default it warns and sets ``model.stop_training``
    (the epoch ends and every ``on_train_end`` runs); with ``raise_error=True`` it raises
    ``RuntimeError`` at once instead.

    Args:
        raise_error: raise instead of stopping gracefully.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}: loss={loss}")
        warnings.warn(f"Batch {batch}: invalid loss {loss}, terminating training", stacklevel=2)
        self.model.stop_training = True

    def get_config(self) -> dict[str, bool]:
        return {"raise_error": self.raise_error}
