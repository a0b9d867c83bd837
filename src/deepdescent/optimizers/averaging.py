"""Polyak averaging of the iterates (Goodfellow et al. §8.7.3), shared by the optimizer
base's ``use_ema`` and the averaging callbacks.

The average after t points is ``θ̂(t) = θ̂(t−1) + w_t (θ(t) − θ̂(t−1))``, one multi-tensor
lerp, with ``w_t = 1/t`` for the arithmetic mean ``θ̂(t) = (1/t) Σᵢ θ(i)`` (Polyak &
Juditsky 1992) or ``w_t = 1 − α`` for the exponentially decaying average
``θ̂ ← αθ̂ + (1 − α)θ`` used for non-convex problems; the first point is copied.
"""

from __future__ import annotations

import torch

__all__ = ["RunningAverage", "polyak_weight"]


def polyak_weight(count: int, momentum: float | None) -> float:
    """The weight w_t of the ``count``-th point (1-based): 1/t, or 1 − α."""
    return 1.0 / count if momentum is None else 1.0 - momentum


class RunningAverage:
    """θ̂ of a list of tensors: the arithmetic mean or an exponentially decaying average.

    Args:
        tensors: the tensors to average (the buffers take their shapes, dtypes, devices).
        momentum: α in [0, 1) for ``θ̂ ← αθ̂ + (1 − α)θ``; ``None`` for the mean.

    Attributes:
        average: the averaged tensors (meaningful once ``count > 0``).
        count: how many points have been averaged.
    """

    def __init__(self, tensors: list[torch.Tensor], momentum: float | None = None) -> None:
        self.average = [t.detach().clone() for t in tensors]
        self.momentum = momentum
        self.count = 0

    @torch.no_grad()
    def update(self, tensors: list[torch.Tensor]) -> None:
        """Add one point: ``θ̂ ← θ̂ + w (θ − θ̂)``."""
        self.count += 1
        if self.count == 1:
            torch._foreach_copy_(self.average, tensors)
            return
        torch._foreach_lerp_(self.average, tensors, polyak_weight(self.count, self.momentum))

    @torch.no_grad()
    def swap(self, tensors: list[torch.Tensor]) -> None:
        """Exchange the values of ``tensors`` and of the average."""
        held = [t.detach().clone() for t in tensors]
        torch._foreach_copy_(tensors, self.average)
        torch._foreach_copy_(self.average, held)
