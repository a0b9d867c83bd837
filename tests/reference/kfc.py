"""KFC, the Kronecker factors of a convolution layer (Grosse & Martens 2016, §3, Theorem 1),
written out with loops over the output locations. Never imports deepdescent.

Notation of the paper: ⟦A⟧ holds one row per output location t, the patch of the input
the kernel meets there; ``Ω = E[⟦A⟧_Hᵀ⟦A⟧_H]`` (the homogeneous coordinate appended) and
``Γ = (1/|T|) E[DSᵀ DS]``, DS the derivatives of one example's loss with respect to the
layer's outputs, E over the examples.
"""

from __future__ import annotations

import numpy as np


def patches2d(
    x: np.ndarray,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
) -> np.ndarray:
    """⟦A⟧ of each example of a channels-last x (batch, h, w, c): (batch, |T|, c·kh·kw),
    a patch's entries ordered (channel, kernel row, kernel column), the locations
    row-major."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    x = np.pad(x, ((0, 0), *pads, (0, 0)))
    out_h = (x.shape[1] - (kh - 1) * dh - 1) // sh + 1
    out_w = (x.shape[2] - (kw - 1) * dw - 1) // sw + 1
    rows = []
    for i in range(out_h):
        for j in range(out_w):
            patch = np.empty((x.shape[0], x.shape[3], kh, kw))
            for m in range(kh):
                for n in range(kw):
                    patch[:, :, m, n] = x[:, i * sh + m * dh, j * sw + n * dw, :]
            rows.append(patch.reshape(len(x), -1))
    return np.stack(rows, axis=1)


def omega(patches: np.ndarray) -> np.ndarray:
    """Ω: Σ over locations of ⟦ã⟧_t⟦ã⟧_tᵀ (with the homogeneous coordinate), averaged over
    the examples."""
    homogeneous = np.concatenate([patches, np.ones((*patches.shape[:2], 1))], axis=2)
    return np.mean([p.T @ p for p in homogeneous], axis=0)


def gamma(derivatives: np.ndarray) -> np.ndarray:
    """Γ: (1/|T|) Σ over locations of Ds_t Ds_tᵀ, averaged over the examples; derivatives
    (batch, |T|, out) of each example's own loss."""
    locations = derivatives.shape[1]
    return np.mean([d.T @ d for d in derivatives], axis=0) / locations
