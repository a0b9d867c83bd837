"""SaturationMonitor: saturated and dead units per layer, as training goes."""

from __future__ import annotations

import os
from typing import Any

from deepdescent.diagnostics.monitors.base import DiagnosticMonitor
from deepdescent.diagnostics.saturation import saturation

__all__ = ["SaturationMonitor"]


class SaturationMonitor(DiagnosticMonitor):
    """For each sigmoid, tanh or ReLU layer, ``saturated/<layer>`` (the fraction of
    activations in the flat region) and ``dead/<layer>`` (the fraction of units flat on
    every example) on a probe batch of inputs (see :mod:`deepdescent.diagnostics.saturation`).
    Cost per measurement: one forward pass of the probe batch.

    Args:
        x: the probe inputs.
        margin: how close to the asymptote counts as saturated.
        interval, unit: measure every ``interval`` epochs (default) or steps.
    """

    def __init__(
        self, x: Any, margin: float = 0.01, interval: int = 1, unit: str = "epoch"
    ) -> None:
        super().__init__(interval, unit)
        self.x, self.margin = x, margin

    def measure(self) -> dict[str, float]:
        values = {}
        for layer in saturation(self.model, self.x, margin=self.margin):
            values[f"saturated/{layer.layer}"] = layer.saturated_fraction
            values[f"dead/{layer.layer}"] = layer.dead_fraction
        return values

    def draw(self, path: str | os.PathLike[str]) -> None:
        """Each layer's saturated and dead fractions, epoch by epoch."""
        from deepdescent.viz import plot_saturation

        plot_saturation(self.history, path, title="Saturated and dead units")
