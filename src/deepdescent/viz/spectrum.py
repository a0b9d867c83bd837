"""Pictures of the Hessian's spectrum."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from deepdescent.viz._figure import save, subplots

if TYPE_CHECKING:
    from deepdescent.diagnostics import SpectralDensity

__all__ = ["plot_spectral_density"]


def plot_spectral_density(
    density: SpectralDensity,
    path: str | os.PathLike[str],
    top: Sequence[float] = (),
    over_training: Mapping[str, Sequence[float]] | None = None,
    title: str | None = None,
) -> None:
    """The eigenvalue density (log scale: the bulk near zero and the few outliers both
    show), the top eigenvalues marked; with ``over_training`` (``HessianMonitor.history``)
    a second panel of the extreme eigenvalues per epoch."""
    figure, axes = subplots(2 if over_training else 1)
    axis = axes[0][0]
    t, phi = density.grid()
    axis.semilogy(t, np.maximum(phi, 1e-12))
    for value in top:
        axis.axvline(value, color="red", linewidth=0.8)
    axis.set(xlabel="eigenvalue λ", ylabel="density", ylim=(1e-8, None))
    axis.grid(alpha=0.3)
    if over_training:
        right = axes[0][1]
        for name, values in over_training.items():
            if name.startswith("hessian_"):
                right.plot(np.asarray(over_training["epoch"]) + 1, values, marker="o", label=name)
        right.set(xlabel="epoch", ylabel="eigenvalue")
        right.grid(alpha=0.3)
        right.legend()
    save(figure, path, title)
