r"""KFC: the Kronecker factors of a convolution layer's Fisher block, from its patches.

Grosse & Martens, "A Kronecker-factored approximate Fisher matrix for convolution layers",
ICML 2016 (G&M). A convolution ``s_{i,t} = Σ_{j,δ} w_{i,j,δ} a_{j,t+δ} + b_i`` (output
channel i at location t ∈ T, input channel j, kernel offset δ ∈ Δ) is an affine map of
the *expanded activations* ⟦A⟧ (G&M's expansion operator): row t of ⟦A⟧ is the patch the
kernel meets at t, ``⟦a⟧_t = [a_{j,t+δ}]_{j,δ}``, and with the homogeneous coordinate,
``⟦A⟧_H = [⟦A⟧  1]``, the layer is ``S = ⟦A⟧_H W̄ᵀ``, W̄ = [W  b] with torch's weight
``(filters, in_channels, *kernel)`` flattened to ``(filters, in_channels·|Δ|)``. Its
gradient sums over the locations, ``∇W̄ = DSᵀ ⟦A⟧_H``.

Under independent activations and derivatives (IAD), spatial homogeneity (SH) and
spatially uncorrelated derivatives (SUD), G&M's Theorem 1 (§3) factors the layer's
Fisher block as ``F̂ = Ω ⊗ Γ`` (W̄ vectorized column by column, the order of M&G 2015's
A ⊗ G), with the estimators that follow it::

    Ω = E[⟦A⟧_Hᵀ ⟦A⟧_H]            (patches' second moments, summed over the |T| locations)
    Γ = (1/|T|) E[DSᵀ DS]          (derivatives' second moments, averaged over locations)

E over the training examples (the model's own targets for the true Fisher, the observed
ones for the empirical Fisher). This is the convention here — the 1/|T| on the
derivatives' factor, as in G&M. Moving the scalar between the factors leaves Ω ⊗ Γ,
factored Tikhonov damping (π absorbs it) and hence the step unchanged.

In a pass whose loss is the mean over N examples, the recorded g = ∂L/∂s are the
per-example derivatives divided by N, so over the N·|T| rows of the pass::

    Â = ⟦A⟧_Hᵀ ⟦A⟧_H / N,      Ĝ = (N / |T|) gᵀg

With |T| = 1 (a fully connected layer, or a 1×1 kernel on a 1×1 input) these are K-FAC's
``Â = ãᵀã / N`` and ``Ĝ = N gᵀg`` (Martens & Grosse 2015, §3, §5), which is how one
function serves both.

A layer's recording is kept as two tensors indexed by example, then location: the patches
``(N, |T|, fan-in [+1])`` and the derivatives ``(N, |T|, out)``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from deepdescent.layers.recording import Convolution

__all__ = [
    "average_kronecker_factors",
    "expanded_activations",
    "kronecker_factors",
    "location_rows",
    "squared_gradient_sums",
]


def expanded_activations(inputs: torch.Tensor, convolution: Convolution) -> torch.Tensor:
    """⟦A⟧ of every example: ``(N, |T|, C·Πk)``, the patch of location t in row t, its
    columns in the order of torch's flattened weight (channel, then the kernel axes)."""
    x = convolution.padded(inputs)
    rank = len(convolution.kernel_size)
    geometry = zip(convolution.kernel_size, convolution.strides, convolution.dilation, strict=True)
    for axis, (size, stride, dilation) in enumerate(geometry):
        # A window of the dilated span, every d-th entry of it: a view, no copy yet.
        x = x.unfold(2 + axis, (size - 1) * dilation + 1, stride)[..., ::dilation]
    examples, channels = x.shape[:2]
    locations = list(range(2, 2 + rank))
    offsets = list(range(2 + rank, 2 + 2 * rank))
    patches = x.permute(0, *locations, 1, *offsets)
    return patches.reshape(examples, -1, channels * math.prod(convolution.kernel_size))


def location_rows(outputs: torch.Tensor, convolution: Convolution) -> torch.Tensor:
    """A tensor shaped like the layer's output as ``(N, |T|, channels)``."""
    if not convolution.channels_last:
        outputs = outputs.movedim(1, -1)
    return outputs.reshape(len(outputs), -1, outputs.shape[-1])


def kronecker_factors(
    patches: torch.Tensor, derivatives: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``Â = Σ ⟦a⟧ ⟦a⟧ᵀ / N`` and ``Ĝ = (N / |T|) Σ g gᵀ`` from ``(N, |T|, ·)`` tensors."""
    examples, locations = patches.shape[:2]
    a = patches.reshape(-1, patches.shape[-1])
    g = derivatives.reshape(-1, derivatives.shape[-1])
    return a.T @ a / examples, (g.T @ g) * (examples / locations)


def average_kronecker_factors(
    factors: tuple[torch.Tensor, torch.Tensor],
    patches: torch.Tensor,
    derivatives: torch.Tensor,
    weight: float,
) -> None:
    """``A ← (1 − w) A + w Â`` and ``G ← (1 − w) G + w Ĝ`` in place (the running averages of
    :func:`kronecker_factors`' estimates), each one ``addmm``: the estimates are never
    formed, which spares three passes over each factor (the product, its scaling and the
    average) — most of the cost when the rows are few, as on K-FAC's sampled pass."""
    examples, locations = patches.shape[:2]
    a = patches.reshape(-1, patches.shape[-1])
    g = derivatives.reshape(-1, derivatives.shape[-1])
    a_factor, g_factor = factors
    a_factor.addmm_(a.T, a, beta=1.0 - weight, alpha=weight / examples)
    g_factor.addmm_(g.T, g, beta=1.0 - weight, alpha=weight * examples / locations)


def squared_gradient_sums(patches: torch.Tensor, derivatives: torch.Tensor) -> torch.Tensor:
    """``(1/N) Σₙ (∇ℓₙ)²`` over (fan-in [+1]) × out, from ``(N, |T|, ·)`` tensors (each
    ∇ℓₙ = N Σ_t ⟦a⟧_{n,t} g_{n,t}ᵀ). With one location, ``(a ⊙ a)ᵀ (g ⊙ g)`` (Goodfellow
    2015) needs no per-example gradient; with more, the N of them are formed."""
    examples, locations = patches.shape[:2]
    if locations == 1:
        a, g = patches[:, 0], derivatives[:, 0]
        return (a * a).T @ (g * g) * examples
    per_example = torch.einsum("nti,nto->nio", patches, derivatives)
    return (per_example * per_example).sum(0) * examples
