"""GradientNoiseMonitor: per-example gradient variance and the noise scale, as training goes."""

from __future__ import annotations

from typing import Any

from deepdescent.diagnostics._objective import LossArgument
from deepdescent.diagnostics.monitors.base import ProbeMonitor
from deepdescent.diagnostics.noise import gradient_noise

__all__ = ["GradientNoiseMonitor"]


class GradientNoiseMonitor(ProbeMonitor):
    """Minibatch noise (§8.1.3; McCandlish et al. 2018) from per-example gradients on a
    probe batch: ``gradient_variance`` tr Σ, ``gradient_norm_sq_unbiased`` |G|², and
    ``gradient_noise_scale`` B_simple = tr Σ / |G|² (with ``hessian=True`` also
    ``critical_batch_size`` B_noise). McCandlish et al. find B_simple growing as the loss
    falls: later training tolerates larger batches.

    Cost per measurement: per-example gradients of the probe batch (about as much as a few
    ordinary gradients of it, vectorised), plus B + 1 Hessian-vector products with
    ``hessian=True``.

    Args:
        x, y: the probe batch (B ≥ 2 examples).
        loss_fn: the loss (default: the model's compiled one).
        hessian: also B_noise.
        interval, unit: measure every ``interval`` epochs (default) or steps.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        loss_fn: LossArgument = None,
        hessian: bool = False,
        interval: int = 1,
        unit: str = "epoch",
    ) -> None:
        super().__init__(x, y, loss_fn, interval, unit)
        self.hessian = bool(hessian)

    def measure(self) -> dict[str, float]:
        probe = self.probe
        noise = gradient_noise(
            self.model,
            self.loss_fn,
            probe.x,
            probe.y,
            batch_sizes=[1],
            hessian=self.hessian,
            draws=0,
        )
        values = {
            "gradient_variance": noise.trace_covariance,
            "gradient_norm_sq_unbiased": noise.true_gradient_norm_sq,
            "gradient_noise_scale": noise.noise_scale,
        }
        if noise.critical_batch_size is not None:
            values["critical_batch_size"] = noise.critical_batch_size
        return values
