"""``SwapEMAWeights``: evaluate with the Polyak average of the weights (Goodfellow et al.
§8.7.3) while training goes on with the iterates."""

from __future__ import annotations

from typing import Any

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs

__all__ = ["SwapEMAWeights"]


class SwapEMAWeights(Callback):
    """Swaps the model's weights with the optimizer's moving average θ̂ (an optimizer made
    with ``use_ema=True``) around every evaluation and prediction, then swaps back.

    Args:
        swap_on_epoch: also hold the average in the model at the end of each epoch (for
            the callbacks after this one, e.g. ``ModelCheckpoint``), until the next epoch
            begins.
    """

    def __init__(self, swap_on_epoch: bool = False) -> None:
        super().__init__()
        self.swap_on_epoch = bool(swap_on_epoch)

    def _swap(self, into_model: bool) -> None:
        optimizer: Any = getattr(self.model, "optimizer", None)
        if not getattr(optimizer, "use_ema", False):
            raise ValueError(
                "SwapEMAWeights needs an optimizer made with use_ema=True, e.g. "
                "SGD(learning_rate=0.1, use_ema=True)"
            )
        if optimizer.average_in_parameters != into_model:
            optimizer.swap_average()

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self.swap_on_epoch:
            self._swap(into_model=False)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.swap_on_epoch:
            self._swap(into_model=True)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        self._swap(into_model=True)

    def on_test_end(self, logs: Logs | None = None) -> None:
        self._swap(into_model=False)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._swap(into_model=True)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._swap(into_model=False)
