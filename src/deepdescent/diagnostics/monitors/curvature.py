"""CurvatureMonitor: gᵀg, gᵀHg and the predicted change of a step, as training goes."""

from __future__ import annotations

import os
from typing import Any

from deepdescent.diagnostics._objective import LossArgument
from deepdescent.diagnostics.curvature import curvature_along_gradient
from deepdescent.diagnostics.monitors.base import ProbeMonitor

__all__ = ["CurvatureMonitor"]


class CurvatureMonitor(ProbeMonitor):
    """Ill-conditioning step by step (Goodfellow et al. §8.2.1) on a probe batch:
    ``gradient_norm_sq`` gᵀg, ``gradient_curvature`` gᵀHg and ``predicted_change``
    ½ε²gᵀHg − εgᵀg with ε the optimizer's current learning rate. A step of size ε raises
    the cost once ``predicted_change`` turns positive.

    Cost per measurement: one gradient and one Hessian-vector product on the probe batch
    (about three gradients' worth).

    Args:
        x, y: the probe batch.
        loss_fn: the loss (default: the model's compiled one).
        interval, unit: measure every ``interval`` steps (``"batch"``) or epochs.
    """

    def __init__(
        self, x: Any, y: Any, loss_fn: LossArgument = None, interval: int = 50, unit: str = "batch"
    ) -> None:
        super().__init__(x, y, loss_fn, interval, unit)

    def measure(self) -> dict[str, float]:
        probe = self.probe
        result = curvature_along_gradient(self.model, self.loss_fn, probe.x, probe.y)
        values = {
            "gradient_norm_sq": result.gradient_norm_sq,
            "gradient_curvature": result.curvature,
        }
        if result.predicted_change is not None:
            values["predicted_change"] = result.predicted_change
        return values

    def draw(self, path: str | os.PathLike[str]) -> None:
        """The book's picture of ill-conditioning along training: gᵀg and gᵀHg, and the
        predicted change of a step."""
        from deepdescent.viz import plot_curvature

        plot_curvature(self.history, path, title="Curvature along the gradient (§8.2.1)")
