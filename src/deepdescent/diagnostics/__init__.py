"""Diagnostics that make the chapter's challenges visible (Goodfellow et al. §8.1–8.2).

Each quantity is a function of ``(model, loss_fn, x, y)``: any ``torch.nn.Module`` or
deepdescent model, a loss by name, a :class:`~deepdescent.losses.Loss`, a callable
``(y_true, y_pred)`` or a torch loss module, and one batch. ``loss_fn=None`` uses the
model's compiled loss. The monitors (:mod:`deepdescent.diagnostics.monitors`) record the
same quantities during ``fit`` into the History logs, and ``deepdescent diagnose`` writes
the standard set as a report folder of figures and JSON.
"""

from __future__ import annotations

from deepdescent.diagnostics._objective import parameter_vector
from deepdescent.diagnostics.cliffs import (
    clipped_fraction,
    gradient_spikes,
    layer_gradient_norms,
    update_to_weight_ratios,
)
from deepdescent.diagnostics.curvature import (
    GradientCurvature,
    curvature_along_gradient,
    hessian_vector_product,
)
from deepdescent.diagnostics.landscape import (
    LossLine,
    LossSurface,
    TrajectoryProjection,
    filter_normalized_direction,
    linear_interpolation,
    loss_surface_2d,
    trajectory_directions,
)
from deepdescent.diagnostics.learning import Generalization, generalization, learning_summary
from deepdescent.diagnostics.noise import (
    GradientNoise,
    gradient_noise,
    noise_from_two_batches,
    per_example_gradients,
)
from deepdescent.diagnostics.saturation import LayerSaturation, saturation
from deepdescent.diagnostics.spectrum import (
    EXACT_LIMIT,
    HessianEigenpairs,
    HessianSummary,
    SpectralDensity,
    TraceEstimate,
    hessian_eigenvalues,
    hessian_spectral_density,
    hessian_summary,
    hessian_trace,
)

__all__ = [
    "EXACT_LIMIT",
    "Generalization",
    "GradientCurvature",
    "GradientNoise",
    "HessianEigenpairs",
    "HessianSummary",
    "LayerSaturation",
    "LossLine",
    "LossSurface",
    "SpectralDensity",
    "TraceEstimate",
    "TrajectoryProjection",
    "clipped_fraction",
    "curvature_along_gradient",
    "filter_normalized_direction",
    "generalization",
    "gradient_noise",
    "gradient_spikes",
    "hessian_eigenvalues",
    "hessian_spectral_density",
    "hessian_summary",
    "hessian_trace",
    "hessian_vector_product",
    "layer_gradient_norms",
    "learning_summary",
    "linear_interpolation",
    "loss_surface_2d",
    "noise_from_two_batches",
    "parameter_vector",
    "per_example_gradients",
    "saturation",
    "trajectory_directions",
    "update_to_weight_ratios",
]
