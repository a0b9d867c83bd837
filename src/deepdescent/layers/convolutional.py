"""Convolution layers with Keras's names, arguments and channels-last layout, computed by
torch's convolution kernels.

A convolution slides a kernel over the spatial axes (Goodfellow et al., *Deep Learning*,
ch. 9): for a 2-D input V with channels l and a kernel K,
``Z[i, j, k] = Σ_{l,m,n} V[i·s + m·d, j·s + n·d, l] K[m, n, l, k] + b[k]`` (s the stride,
d the dilation; Keras and torch compute this cross-correlation and call it convolution).
``padding="valid"`` uses only whole windows; ``"same"`` pads so that the output has
``ceil(n / s)`` positions, the odd extra padding at the end, as Keras (TensorFlow) does.

Inputs and outputs are ``(batch, *spatial, channels)`` (``data_format="channels_last"``,
Keras's default) or ``(batch, channels, *spatial)``. The kernels are kept in torch's
layout, ``(filters, in_channels / groups, *kernel_size)``; they are drawn in Keras's
layout ``(*kernel_size, in_channels / groups, filters)`` first, so that fan-in and fan-out
(hence Glorot and He scales) are Keras's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from deepdescent import config, initializers, regularizers
from deepdescent.layers._layout import (
    channels_first,
    channels_last,
    check_data_format,
    check_padding,
    int_tuple,
    pad_same,
    same_padding,
)
from deepdescent.layers.base import Shape
from deepdescent.layers.core import _ActivatedLayer, initialize, serialize_optional
from deepdescent.utils._checks import check_argument, check_count

__all__ = [
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "DepthwiseConv2D",
    "SeparableConv2D",
]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _draw(initializer: Any, keras_shape: tuple[int, ...], role: str) -> torch.Tensor:
    """A kernel drawn in Keras's layout ``(*kernel, a, b)``, returned as ``(b, a, *kernel)``."""
    if initializer is None:
        raise ValueError(f"Invalid {role}_initializer: None (expected an initializer)")
    drawn = initializer(keras_shape, dtype=config.floatx_dtype())
    rank = len(keras_shape) - 2
    return drawn.permute(rank + 1, rank, *range(rank)).contiguous()


class _Conv(_ActivatedLayer):
    """Shared by the convolutions: arguments, weights, padding and layout."""

    rank = 2
    transposed = False

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        check_count("filters", filters)
        super().__init__(activation, **kwargs)
        self.filters = int(filters)
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = int_tuple(strides, self.rank, "strides")
        self.padding = self._check_padding(padding)
        self.data_format = check_data_format(data_format)
        self.dilation_rate = int_tuple(dilation_rate, self.rank, "dilation_rate")
        self.groups = check_count("groups", groups)
        check_argument(
            "groups", groups, self.filters % self.groups == 0, f"a divisor of filters={filters}"
        )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.bias: torch.nn.Parameter | None = None
        if self.build_input_shape is not None:
            self.build_for(self.build_input_shape)

    def _check_padding(self, padding: str) -> str:
        return check_padding(padding)

    def _in_channels(self, input_shape: Shape) -> int:
        axis = -1 if self.data_format == "channels_last" else 1
        channels = input_shape[axis]
        if len(input_shape) != self.rank + 2 or channels is None:
            raise ValueError(
                f"{type(self).__name__} needs inputs of rank {self.rank + 2} "
                f"(batch, {'spatial axes, ' * (self.data_format == 'channels_last')}"
                f"channels) with a known channel axis, got shape {tuple(input_shape)}"
            )
        check_argument(
            "groups",
            self.groups,
            channels % self.groups == 0,
            f"a divisor of the {channels} input channels",
        )
        return int(channels)

    def build(self, input_shape: Shape) -> None:
        channels = self._in_channels(input_shape)
        keras_shape = (*self.kernel_size, channels // self.groups, self.filters)
        self.kernel = torch.nn.Parameter(_draw(self.kernel_initializer, keras_shape, "kernel"))
        self.add_penalty(self.kernel, self.kernel_regularizer)
        self._add_bias(self.filters)
        super().build(input_shape)

    def _add_bias(self, size: int) -> None:
        if self.use_bias:
            self.bias = initialize(self.bias_initializer, (size,), "bias")
            self.add_penalty(self.bias, self.bias_regularizer)

    def _padded(self, inputs: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Channels-first inputs and the ``padding`` argument for torch's kernel."""
        if self.padding == "valid":
            return inputs, 0
        pads = [
            same_padding(int(n), k, s, d)
            for n, k, s, d in zip(
                inputs.shape[2:], self.kernel_size, self.strides, self.dilation_rate, strict=True
            )
        ]
        if all(left == right for left, right in pads):
            return inputs, tuple(left for left, _ in pads)
        return pad_same(inputs, self.kernel_size, self.strides, self.dilation_rate), 0

    def padded_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """The inputs as the kernel slides over them: channels first, with all the padding
        (the part torch's kernel would add too) in place — what a layer-wise curvature
        method cuts into patches."""
        x, padding = self._padded(channels_first(inputs, self.data_format))
        if padding == 0:
            return x
        return F.pad(x, [p for p in reversed(padding) for _ in range(2)])

    def pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        """The convolution plus bias, before the activation."""
        x, padding = self._padded(channels_first(inputs, self.data_format))
        z = _CONV[self.rank](
            x, self.kernel, self.bias, self.strides, padding, self.dilation_rate, self.groups
        )
        return channels_last(z, self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": self._config_activation(),
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_optional(initializers, self.kernel_initializer),
            "bias_initializer": serialize_optional(initializers, self.bias_initializer),
            "kernel_regularizer": serialize_optional(regularizers, self.kernel_regularizer),
            "bias_regularizer": serialize_optional(regularizers, self.bias_regularizer),
        }

    def extra_repr(self) -> str:
        return (
            f"name={self.name!r}, filters={self.filters}, kernel_size={self.kernel_size}, "
            f"strides={self.strides}, padding={self.padding!r}"
        )


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)``; ``padding="causal"`` pads only
    the start, so output t sees inputs up to t (WaveNet's causal convolution)."""

    rank = 1

    def _check_padding(self, padding: str) -> str:
        if isinstance(padding, str) and padding.lower() == "causal":
            return "causal"
        return check_padding(padding)

    def _padded(self, inputs: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if self.padding == "causal":
            return F.pad(inputs, ((self.kernel_size[0] - 1) * self.dilation_rate[0], 0)), 0
        return super()._padded(inputs)


class Conv2D(_Conv):
    """2-D convolution over ``(batch, height, width, channels)``:
    ``Conv2D(32, kernel_size=(3, 3), activation="relu")``."""

    rank = 2


class Conv3D(_Conv):
    """3-D convolution over ``(batch, depth, height, width, channels)``."""

    rank = 3


def transpose_padding(
    kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None
) -> tuple[int, int]:
    """torch's ``(padding, output_padding)`` for Keras's transposed-convolution padding.

    The output length is ``n·s`` for ``"same"`` and ``(n − 1)·s + max(k, s)`` for
    ``"valid"`` (k the dilated kernel); an explicit ``output_padding`` gives
    ``(n − 1)·s + k mod 2 + output_padding`` (``"same"``) or ``(n − 1)·s + k +
    output_padding`` (``"valid"``). These are Keras's lengths, realised as Keras's torch
    backend does: symmetric cropping plus extra positions at the end.
    """
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return 0, extra
    wanted = stride - span % 2 if output_padding is None else output_padding
    crop = max(-((span % 2 - span + wanted) // 2), 0)
    return crop, 2 * crop + span % 2 - span + wanted


class _ConvTranspose(_Conv):
    """Transposed convolution (the gradient of a convolution with respect to its input),
    which upsamples by the stride. The kernel is kept as torch's
    ``(in_channels, filters, *kernel_size)``, drawn as Keras's ``(*kernel_size, filters,
    in_channels)``."""

    def __init__(self, filters: int, kernel_size: Any, *args: Any, **kwargs: Any) -> None:
        output_padding = kwargs.pop("output_padding", None)
        self.output_padding = (
            None
            if output_padding is None
            else int_tuple(output_padding, self.rank, "output_padding", minimum=0)
        )
        super().__init__(filters, kernel_size, *args, **kwargs)
        check_argument("groups", self.groups, self.groups == 1, "1 for a transposed convolution")

    def build(self, input_shape: Shape) -> None:
        channels = self._in_channels(input_shape)
        keras_shape = (*self.kernel_size, self.filters, channels)
        drawn = _draw(self.kernel_initializer, keras_shape, "kernel")  # (in, filters, *k)
        self.kernel = torch.nn.Parameter(drawn)
        self.add_penalty(self.kernel, self.kernel_regularizer)
        self._add_bias(self.filters)
        self.build_input_shape = input_shape
        self.built = True
        paddings = [
            transpose_padding(
                k,
                s,
                d,
                self.padding,
                None if self.output_padding is None else self.output_padding[i],
            )
            for i, (k, s, d) in enumerate(
                zip(self.kernel_size, self.strides, self.dilation_rate, strict=True)
            )
        ]
        for (_, extra), s, d in zip(paddings, self.strides, self.dilation_rate, strict=True):
            check_argument(
                "output_padding",
                self.output_padding,
                extra < max(s, d),
                "a value that keeps the extra output positions below the stride",
            )
        self.torch_padding = tuple(p for p, _ in paddings)
        self.torch_output_padding = tuple(e for _, e in paddings)

    def pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        x = channels_first(inputs, self.data_format)
        z = _CONV_TRANSPOSE[self.rank](
            x,
            self.kernel,
            self.bias,
            self.strides,
            self.torch_padding,
            self.torch_output_padding,
            1,
            self.dilation_rate,
        )
        return channels_last(z, self.data_format)

    def get_config(self) -> dict[str, Any]:
        config_ = super().get_config()
        del config_["groups"]
        output_padding = None if self.output_padding is None else list(self.output_padding)
        return {**config_, "output_padding": output_padding}


class Conv1DTranspose(_ConvTranspose):
    """1-D transposed convolution over ``(batch, steps, channels)``."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """2-D transposed convolution over ``(batch, height, width, channels)``:
    ``Conv2DTranspose(64, 4, strides=2, padding="same")`` doubles height and width."""

    rank = 2


class DepthwiseConv2D(_Conv):
    """Convolves each input channel with its own ``depth_multiplier`` kernels (no mixing
    across channels): a grouped convolution with one group per channel."""

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        self.depth_multiplier = check_count("depth_multiplier", depth_multiplier)
        # filters and groups follow the input's channels; fixed in build.
        super().__init__(
            1,
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            1,
            activation,
            use_bias,
            depthwise_initializer,
            bias_initializer,
            depthwise_regularizer,
            bias_regularizer,
            **kwargs,
        )

    def _build_depthwise(self, input_shape: Shape) -> None:
        channels = self._in_channels(input_shape)
        self.groups, self.filters = channels, channels * self.depth_multiplier
        keras_shape = (*self.kernel_size, channels, self.depth_multiplier)
        drawn = _draw(self.kernel_initializer, keras_shape, "depthwise")  # (dm, c, *k)
        # torch's grouped layout: output channel c·dm + j reads input channel c.
        kernel = drawn.transpose(0, 1).reshape(self.filters, 1, *self.kernel_size)
        self.kernel = torch.nn.Parameter(kernel.contiguous())
        self.add_penalty(self.kernel, self.kernel_regularizer)
        self.build_input_shape = input_shape
        self.built = True

    def build(self, input_shape: Shape) -> None:
        self._build_depthwise(input_shape)
        self._add_bias(self.filters)

    def get_config(self) -> dict[str, Any]:
        config_ = super().get_config()
        for key in ("filters", "groups"):
            del config_[key]
        config_["depthwise_initializer"] = config_.pop("kernel_initializer")
        config_["depthwise_regularizer"] = config_.pop("kernel_regularizer")
        return {**config_, "depth_multiplier": self.depth_multiplier}


class SeparableConv2D(DepthwiseConv2D):
    """A depthwise convolution followed by a 1×1 (pointwise) convolution to ``filters``
    channels: far fewer weights than a full convolution of the same reach."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        self.pointwise_filters = check_count("filters", filters)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        super().__init__(
            kernel_size,
            strides,
            padding,
            depth_multiplier,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            depthwise_initializer,
            bias_initializer,
            depthwise_regularizer,
            bias_regularizer,
            **kwargs,
        )

    def build(self, input_shape: Shape) -> None:
        self._build_depthwise(input_shape)
        keras_shape = (1,) * self.rank + (self.filters, self.pointwise_filters)
        self.pointwise_kernel = torch.nn.Parameter(
            _draw(self.pointwise_initializer, keras_shape, "pointwise")
        )
        self.add_penalty(self.pointwise_kernel, self.pointwise_regularizer)
        self._add_bias(self.pointwise_filters)

    def pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        x, padding = self._padded(channels_first(inputs, self.data_format))
        depthwise = F.conv2d(
            x, self.kernel, None, self.strides, padding, self.dilation_rate, self.groups
        )
        z = F.conv2d(depthwise, self.pointwise_kernel, self.bias)
        return channels_last(z, self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.pointwise_filters,
            "pointwise_initializer": serialize_optional(initializers, self.pointwise_initializer),
            "pointwise_regularizer": serialize_optional(regularizers, self.pointwise_regularizer),
        }
