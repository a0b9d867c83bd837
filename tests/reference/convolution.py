"""Convolution and pooling written out with loops, as Keras (TensorFlow) documents them:
channels-last arrays, ``"same"`` padding giving ``ceil(n / s)`` outputs with the odd extra
padding at the end, average pooling over the inputs a window covers. Never imports
deepdescent.
"""

from __future__ import annotations

import math

import numpy as np


def same_pads(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding of one axis: (before, after)."""
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


def conv2d(x: np.ndarray, kernel: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """x (batch, h, w, c), kernel (kh, kw, c, filters) in Keras's layout."""
    kh, kw, _, filters = kernel.shape
    if padding == "same":
        (top, bottom), (left, right) = (
            same_pads(x.shape[1], kh, stride),
            same_pads(x.shape[2], kw, stride),
        )
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out_h = (x.shape[1] - kh) // stride + 1
    out_w = (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, filters))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.einsum("bhwc,hwcf->bf", window, kernel)
    return out


def pool2d(x: np.ndarray, size: int, stride: int, padding: str, kind: str) -> np.ndarray:
    """``kind`` "max" or "average" pooling of x (batch, h, w, c); "same" windows at the
    edge cover fewer inputs, and the average is over those only."""
    if padding == "same":
        out_h, out_w = math.ceil(x.shape[1] / stride), math.ceil(x.shape[2] / stride)
        top = same_pads(x.shape[1], size, stride)[0]
        left = same_pads(x.shape[2], size, stride)[0]
    else:
        out_h = (x.shape[1] - size) // stride + 1
        out_w = (x.shape[2] - size) // stride + 1
        top = left = 0
    reduce = np.max if kind == "max" else np.mean
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            r0, c0 = i * stride - top, j * stride - left
            window = x[:, max(r0, 0) : r0 + size, max(c0, 0) : c0 + size, :]
            out[:, i, j, :] = reduce(window, axis=(1, 2))
    return out
