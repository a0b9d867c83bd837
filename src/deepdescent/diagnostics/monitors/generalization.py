"""GeneralizationMonitor: the surrogate and the 0-1 loss on fixed sets at each epoch's end."""

from __future__ import annotations

from typing import Any

from deepdescent.diagnostics._objective import LossArgument, resolve
from deepdescent.diagnostics.learning import generalization
from deepdescent.diagnostics.monitors.base import DiagnosticMonitor

__all__ = ["GeneralizationMonitor"]


class GeneralizationMonitor(DiagnosticMonitor):
    """Learning versus pure optimization (§8.1) at the parameters of each epoch's end —
    ``fit``'s own ``loss`` is a running mean over an epoch of changing parameters —:
    ``train_set_loss`` and ``train_set_zero_one_loss`` on a fixed training subset,
    ``val_set_loss``, ``val_set_zero_one_loss`` on held-out data, and their difference
    ``generalization_gap`` (of the surrogate). Cost: one evaluation pass of both sets.

    Args:
        train, validation: ``(x, y)`` pairs.
        loss_fn: the loss (default: the model's compiled one).
        interval, unit: measure every ``interval`` epochs (default) or steps.
    """

    def __init__(
        self,
        train: tuple[Any, Any],
        validation: tuple[Any, Any],
        loss_fn: LossArgument = None,
        interval: int = 1,
        unit: str = "epoch",
    ) -> None:
        super().__init__(interval, unit)
        self.train, self.validation, self.loss_fn = train, validation, loss_fn
        self._sets: list[tuple[Any, Any]] = []

    def start(self) -> None:
        # Converted and moved to the model's device once.
        self._sets = [
            (objective.x, objective.y)
            for objective in (
                resolve(self.model, self.loss_fn, *self.train),
                resolve(self.model, self.loss_fn, *self.validation),
            )
        ]

    def measure(self) -> dict[str, float]:
        train, validation = self._sets
        result = generalization(self.model, self.loss_fn, train, validation)
        return {
            "train_set_loss": result.train_loss,
            "train_set_zero_one_loss": result.train_zero_one_loss,
            "val_set_loss": result.validation_loss,
            "val_set_zero_one_loss": result.validation_zero_one_loss,
            "generalization_gap": result.loss_gap,
        }
