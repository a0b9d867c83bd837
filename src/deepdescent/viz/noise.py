"""Pictures of minibatch gradient noise."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from deepdescent.viz._figure import save, subplots

if TYPE_CHECKING:
    from deepdescent.diagnostics import GradientNoise

__all__ = ["plot_gradient_noise"]


def plot_gradient_noise(
    noise: GradientNoise, path: str | os.PathLike[str], title: str | None = None
) -> None:
    """The standard error of a minibatch gradient against the batch size m (log-log):
    σ/√m from the per-example variance, the error measured by resampling, and the size
    of the true gradient |G| (they cross near the noise scale B_simple)."""
    figure, axes = subplots(1)
    axis = axes[0][0]
    axis.loglog(noise.batch_sizes, noise.standard_errors, label="σ/√m")
    axis.loglog(noise.batch_sizes, noise.sampled_standard_errors, "o", label="measured ‖ĝ_m − Ḡ‖")
    if noise.true_gradient_norm_sq > 0:
        axis.axhline(noise.true_gradient_norm_sq**0.5, color="gray", linestyle="--", label="|G|")
    axis.set(xlabel="minibatch size m", ylabel="standard error of the gradient")
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    save(figure, path, title)
