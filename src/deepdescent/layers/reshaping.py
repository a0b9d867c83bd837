"""Layers that move values without weights: Flatten, Reshape, Permute, RepeatVector,
UpSampling, ZeroPadding and Cropping (Keras's names, channels-last layout)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from deepdescent.layers._layout import (
    channels_first,
    channels_last,
    check_data_format,
    int_tuple,
)
from deepdescent.layers.base import Layer, Shape
from deepdescent.utils._checks import check_argument, check_count, is_integer

__all__ = [
    "Cropping1D",
    "Cropping2D",
    "Flatten",
    "Permute",
    "RepeatVector",
    "Reshape",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
]


class Flatten(Layer):
    """Flattens every axis but the batch axis: ``(n, 28, 28) → (n, 784)`` (channels-last
    images flatten in Keras's order)."""

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(d or 0 for d in rest)
        return (input_shape[0], size)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.flatten(1)


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        shape = tuple(target_shape)
        if (
            not shape
            or sum(d == -1 for d in shape) > 1
            or any(not isinstance(d, int) or (d <= 0 and d != -1) for d in shape)
        ):
            raise ValueError(
                f"Invalid target_shape: {target_shape!r} (expected positive ints, at most one -1)"
            )
        self.target_shape = shape

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if -1 not in self.target_shape:
            return (input_shape[0], *self.target_shape)
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        known = math.prod(d for d in self.target_shape if d != -1)
        return (
            input_shape[0],
            *(
                math.prod(d or 0 for d in rest) // known if d == -1 else d
                for d in self.target_shape
            ),
        )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.reshape(inputs.shape[0], *self.target_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """Reorders the non-batch axes: ``Permute((2, 1))`` swaps steps and features (axes
    counted from 1, as Keras)."""

    def __init__(self, dims: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        check_argument(
            "dims",
            dims,
            sorted(self.dims) == list(range(1, len(self.dims) + 1)),
            "a permutation of 1..n",
        )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.permute(0, *self.dims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """Repeats a vector ``n`` times: ``(batch, features) → (batch, n, features)``."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = check_count("n", n)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.unsqueeze(1).expand(-1, self.n, *inputs.shape[1:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class UpSampling1D(Layer):
    """Repeats each step ``size`` times: ``(batch, steps, c) → (batch, steps·size, c)``."""

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = check_count("size", size)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.repeat_interleave(self.size, dim=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


class UpSampling2D(Layer):
    """Enlarges height and width by ``size``: ``"nearest"`` repeats rows and columns,
    ``"bilinear"`` interpolates (half-pixel centres, as Keras)."""

    def __init__(
        self,
        size: Any = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.size = int_tuple(size, 2, "size")
        self.data_format = check_data_format(data_format)
        check_argument(
            "interpolation",
            interpolation,
            interpolation in ("nearest", "bilinear"),
            "'nearest' or 'bilinear'",
        )
        self.interpolation = interpolation

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = channels_first(inputs, self.data_format)
        if self.interpolation == "nearest":
            y = x.repeat_interleave(self.size[0], dim=2).repeat_interleave(self.size[1], dim=3)
        else:
            y = F.interpolate(x, scale_factor=self.size, mode="bilinear", align_corners=False)
        return channels_last(y, self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "size": list(self.size),
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }


def _pairs(value: Any, rank: int, name: str) -> tuple[tuple[int, int], ...]:
    """Keras's padding/cropping forms: n, (a, b) per axis symmetric, or ((a0, a1), (b0, b1))."""
    if is_integer(value):
        value = (value,) * rank
    value = tuple(value)
    if rank == 1 and len(value) == 2 and all(is_integer(v) for v in value):
        value = (value,)
    pairs = tuple((int(v), int(v)) if is_integer(v) else tuple(int(x) for x in v) for v in value)
    check_argument(
        name,
        value,
        len(pairs) == rank and all(len(p) == 2 and min(p) >= 0 for p in pairs),
        f"an int >= 0, {rank} of them, or {rank} pairs (before, after)",
    )
    return pairs  # type: ignore[return-value]


class _SpatialEdges(Layer):
    rank = 2

    def __init__(self, edges: Any, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.edges = _pairs(edges, self.rank, self.argument)
        self.data_format = "channels_last" if self.rank == 1 else check_data_format(data_format)

    argument = "padding"

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return channels_last(
            self.transform(channels_first(inputs, self.data_format)), self.data_format
        )

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), self.argument: [list(p) for p in self.edges]}
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


class _ZeroPadding(_SpatialEdges):
    def __init__(self, padding: Any = 1, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(padding, data_format, **kwargs)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        pads = [amount for pair in reversed(self.edges) for amount in pair]
        return F.pad(x, pads)


class _Cropping(_SpatialEdges):
    argument = "cropping"

    def __init__(self, cropping: Any = 1, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(cropping, data_format, **kwargs)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        index: list[slice] = [slice(None), slice(None)]
        for (before, after), length in zip(self.edges, x.shape[2:], strict=True):
            if before + after >= length:
                raise ValueError(
                    f"{type(self).__name__} cannot crop {before + after} of {length} positions"
                )
            index.append(slice(before, length - after))
        return x[tuple(index)]


class ZeroPadding1D(_ZeroPadding):
    """Pads steps with zeros: ``padding=n`` or ``(before, after)``."""

    rank = 1


class ZeroPadding2D(_ZeroPadding):
    """Pads height and width with zeros: ``padding=1``, ``(h, w)`` or
    ``((top, bottom), (left, right))``."""

    rank = 2


class Cropping1D(_Cropping):
    """Removes steps at both ends: ``cropping=n`` or ``(before, after)``."""

    rank = 1


class Cropping2D(_Cropping):
    """Removes rows and columns at the edges: ``cropping=1``, ``(h, w)`` or
    ``((top, bottom), (left, right))``."""

    rank = 2
