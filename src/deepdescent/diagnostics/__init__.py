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
from deepdescent.diagnostics.curvature import (
    GradientCurvature,
    curvature_along_gradient,
    hessian_vector_product,
)
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
    "GradientCurvature",
    "HessianEigenpairs",
    "HessianSummary",
    "SpectralDensity",
    "TraceEstimate",
    "curvature_along_gradient",
    "hessian_eigenvalues",
    "hessian_spectral_density",
    "hessian_summary",
    "hessian_trace",
    "hessian_vector_product",
    "parameter_vector",
]
