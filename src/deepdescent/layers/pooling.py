"""Pooling layers (Goodfellow et al., *Deep Learning*, §9.3), with Keras's arguments and
channels-last layout, computed by torch's pooling kernels.

Max pooling reports the largest value of each window, average pooling its mean; with
``padding="same"`` the windows at the edge cover fewer inputs, and (as in Keras) average
pooling divides by the number of inputs actually covered. Global pooling reduces all
spatial axes at once.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from deepdescent.layers._layout import (
    channels_first,
    channels_last,
    check_data_format,
    check_padding,
    int_tuple,
    pad_same,
)
from deepdescent.layers.base import Layer

__all__ = [
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
]

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class _Pooling(Layer):
    rank = 2

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size")
        self.strides = (
            self.pool_size if strides is None else int_tuple(strides, self.rank, "strides")
        )
        self.padding = check_padding(padding)
        self.data_format = check_data_format(data_format)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Pool channels-first ``x``."""
        raise NotImplementedError

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.ndim != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} needs inputs of rank {self.rank + 2}, got shape "
                f"{tuple(inputs.shape)}"
            )
        return channels_last(self.pool(channels_first(inputs, self.data_format)), self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


class _MaxPooling(_Pooling):
    def pool(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            ones = (1,) * self.rank
            x = pad_same(x, self.pool_size, self.strides, ones, value=float("-inf"))
        return _MAX[self.rank](x, self.pool_size, self.strides)


class _AveragePooling(_Pooling):
    def pool(self, x: torch.Tensor) -> torch.Tensor:
        average = _AVG[self.rank]
        if self.padding == "valid":
            return average(x, self.pool_size, self.strides)
        ones = (1,) * self.rank
        padded = pad_same(x, self.pool_size, self.strides, ones)
        covered = pad_same(torch.ones_like(x[:1, :1]), self.pool_size, self.strides, ones)
        # Mean over the inputs each window covers: (mean with zeros) / (share covered).
        return average(padded, self.pool_size, self.strides) / average(
            covered, self.pool_size, self.strides
        )


class MaxPooling1D(_MaxPooling):
    """Max over windows of ``pool_size`` steps of ``(batch, steps, channels)``."""

    rank = 1


class MaxPooling2D(_MaxPooling):
    """Max over ``pool_size`` windows of ``(batch, height, width, channels)``:
    ``MaxPooling2D(pool_size=(2, 2))`` halves height and width."""

    rank = 2


class MaxPooling3D(_MaxPooling):
    rank = 3


class AveragePooling1D(_AveragePooling):
    """Mean over windows of ``pool_size`` steps of ``(batch, steps, channels)``."""

    rank = 1


class AveragePooling2D(_AveragePooling):
    """Mean over ``pool_size`` windows of ``(batch, height, width, channels)``."""

    rank = 2


class AveragePooling3D(_AveragePooling):
    rank = 3


class _GlobalPooling(Layer):
    rank = 2

    def __init__(
        self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)
        self.keepdims = bool(keepdims)

    def reduce(self, x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
        raise NotImplementedError

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.ndim != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} needs inputs of rank {self.rank + 2}, got shape "
                f"{tuple(inputs.shape)}"
            )
        first = 1 if self.data_format == "channels_last" else 2
        return self.reduce(inputs, tuple(range(first, first + self.rank)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class _GlobalAverage(_GlobalPooling):
    def reduce(self, x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
        return x.mean(dim=dims, keepdim=self.keepdims)


class _GlobalMax(_GlobalPooling):
    def reduce(self, x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
        return x.amax(dim=dims, keepdim=self.keepdims)


class GlobalAveragePooling1D(_GlobalAverage):
    """Mean over the steps: ``(batch, steps, channels) → (batch, channels)``."""

    rank = 1


class GlobalAveragePooling2D(_GlobalAverage):
    """Mean over height and width: ``(batch, h, w, channels) → (batch, channels)``."""

    rank = 2


class GlobalAveragePooling3D(_GlobalAverage):
    rank = 3


class GlobalMaxPooling1D(_GlobalMax):
    """Max over the steps: ``(batch, steps, channels) → (batch, channels)``."""

    rank = 1


class GlobalMaxPooling2D(_GlobalMax):
    """Max over height and width: ``(batch, h, w, channels) → (batch, channels)``."""

    rank = 2


class GlobalMaxPooling3D(_GlobalMax):
    rank = 3
