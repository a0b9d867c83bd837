"""Shared by the spatial layers: argument checks, Keras's channels-last layout around
torch's channels-first kernels, and Keras's ``"same"`` padding.

Keras keeps images as ``(batch, *spatial, channels)``; torch's kernels take
``(batch, channels, *spatial)``. Moving the channel axis is a view, and torch's
convolutions and pools read such a view (channels-last memory) without copying.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from deepdescent import config
from deepdescent.utils._checks import check_argument, is_integer

__all__ = [
    "channels_first",
    "channels_last",
    "check_data_format",
    "check_padding",
    "int_tuple",
    "pad_same",
    "same_padding",
]


def check_data_format(data_format: str | None) -> str:
    """``"channels_last"`` or ``"channels_first"``; ``None`` is the configured default."""
    if data_format is None:
        return config.image_data_format()
    check_argument(
        "data_format",
        data_format,
        data_format in ("channels_last", "channels_first"),
        "'channels_last' or 'channels_first'",
    )
    return data_format


def check_padding(padding: str) -> str:
    """Keras's ``"valid"`` or ``"same"`` (any case)."""
    value = padding.lower() if isinstance(padding, str) else padding
    check_argument("padding", padding, value in ("valid", "same"), "'valid' or 'same'")
    return str(value)


def int_tuple(value: Any, rank: int, name: str, minimum: int = 1) -> tuple[int, ...]:
    """An int (repeated ``rank`` times) or a tuple of ``rank`` ints, each >= ``minimum``."""
    values = (value,) * rank if is_integer(value) else tuple(value)
    check_argument(
        name,
        value,
        len(values) == rank and all(is_integer(v) and v >= minimum for v in values),
        f"an int >= {minimum} or a tuple of {rank} of them",
    )
    return tuple(int(v) for v in values)


def channels_first(inputs: torch.Tensor, data_format: str) -> torch.Tensor:
    """Inputs in torch's layout (a view when they are channels-last)."""
    return inputs.movedim(-1, 1) if data_format == "channels_last" else inputs


def channels_last(outputs: torch.Tensor, data_format: str) -> torch.Tensor:
    """Outputs back in the layer's layout."""
    return outputs.movedim(1, -1) if data_format == "channels_last" else outputs


def same_padding(length: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """Keras's (TensorFlow's) ``"same"`` padding of one axis: the output has
    ``ceil(length / stride)`` positions, the extra padding (when odd) goes at the end."""
    span = (kernel - 1) * dilation + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


def pad_same(
    inputs: torch.Tensor,
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilation: tuple[int, ...],
    value: float = 0.0,
) -> torch.Tensor:
    """Channels-first ``inputs`` padded for ``"same"`` on every spatial axis."""
    spatial = inputs.shape[2:]
    pads: list[int] = []
    for length, k, s, d in reversed(list(zip(spatial, kernel, strides, dilation, strict=True))):
        pads.extend(same_padding(int(length), k, s, d))
    if not any(pads):
        return inputs
    return F.pad(inputs, pads, value=value)
