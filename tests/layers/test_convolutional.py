"""Convolutions against torch.nn's (outputs, input and weight gradients to 1e-6), Keras's
"same" padding against a loop transcription, and Keras's output-length rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from layers._compare import built_double, channels_first, channels_last, compare
from reference import convolution

from deepdescent import layers


def _rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


CONVOLUTIONS = [
    pytest.param(
        layers.Conv2D,
        torch.nn.Conv2d,
        dict(filters=4, kernel_size=3),
        (2, 9, 8, 3),
        id="conv2d-valid",
    ),
    pytest.param(
        layers.Conv2D,
        torch.nn.Conv2d,
        dict(filters=4, kernel_size=(3, 2), strides=2, dilation_rate=1),
        (2, 9, 8, 3),
        id="conv2d-strided",
    ),
    pytest.param(
        layers.Conv2D,
        torch.nn.Conv2d,
        dict(filters=4, kernel_size=3, dilation_rate=2, groups=1),
        (2, 9, 9, 2),
        id="conv2d-dilated",
    ),
    pytest.param(
        layers.Conv2D,
        torch.nn.Conv2d,
        dict(filters=4, kernel_size=3, groups=2),
        (2, 7, 7, 4),
        id="conv2d-grouped",
    ),
    pytest.param(
        layers.Conv1D,
        torch.nn.Conv1d,
        dict(filters=5, kernel_size=3, strides=2),
        (2, 11, 3),
        id="conv1d",
    ),
    pytest.param(
        layers.Conv3D, torch.nn.Conv3d, dict(filters=2, kernel_size=2), (1, 4, 5, 4, 3), id="conv3d"
    ),
]


def _torch_conv(module_cls, layer):
    rank = len(layer.kernel_size)
    channels = layer.kernel.shape[1] * layer.groups
    module = module_cls(
        channels,
        layer.filters,
        layer.kernel_size,
        layer.strides,
        0,
        layer.dilation_rate,
        layer.groups,
    ).double()
    with torch.no_grad():
        module.weight.copy_(layer.kernel)
        module.bias.copy_(layer.bias)
    assert module.weight.dim() == rank + 2
    return module


@pytest.mark.parametrize(("cls", "module_cls", "kwargs", "shape"), CONVOLUTIONS)
def test_valid_convolution_matches_torch(cls, module_cls, kwargs, shape):
    x = _rand(*shape)
    layer = built_double(cls(**kwargs), x)
    module = _torch_conv(module_cls, layer)
    compare(
        layer,
        lambda v: channels_last(module(channels_first(v))),
        x,
        [(layer.kernel, module.weight), (layer.bias, module.bias)],
    )


@pytest.mark.parametrize(
    ("kernel", "stride", "size"), [(3, 1, 7), (4, 2, 9), (3, 2, 8), (2, 3, 10), (5, 2, 6)]
)
def test_same_padding_matches_keras_rule_and_loop_reference(kernel, stride, size):
    x = _rand(2, size, size + 1, 3)
    layer = built_double(layers.Conv2D(4, kernel, strides=stride, padding="same"), x)
    keras_kernel = layer.kernel.detach().permute(2, 3, 1, 0).numpy()
    expected = convolution.conv2d(x.numpy(), keras_kernel, stride, "same")
    expected += layer.bias.detach().numpy()
    out = layer(x)
    assert tuple(out.shape) == (2, math.ceil(size / stride), math.ceil((size + 1) / stride), 4)
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-10)


def test_same_padding_gradients_match_torch_on_explicitly_padded_input():
    x = _rand(2, 8, 8, 3)
    layer = built_double(layers.Conv2D(4, 3, strides=2, padding="same"), x)
    module = _torch_conv(torch.nn.Conv2d, layer)
    top, bottom = convolution.same_pads(8, 3, 2)
    compare(
        layer,
        lambda v: channels_last(
            module(torch.nn.functional.pad(channels_first(v), (top, bottom, top, bottom)))
        ),
        x,
        [(layer.kernel, module.weight)],
    )


def test_causal_conv1d_output_t_sees_inputs_up_to_t():
    x = _rand(1, 6, 2)
    layer = built_double(layers.Conv1D(1, 3, padding="causal"), x)
    base = layer(x).detach()
    changed = x.clone()
    changed[:, 4] += 1.0
    after = layer(changed).detach()
    torch.testing.assert_close(after[:, :4], base[:, :4])
    assert not torch.allclose(after[:, 4:], base[:, 4:])


def test_channels_first_takes_torch_layout():
    x = _rand(2, 3, 6, 6)
    layer = built_double(layers.Conv2D(4, 3, data_format="channels_first"), x)
    module = _torch_conv(torch.nn.Conv2d, layer)
    compare(layer, module, x, [(layer.kernel, module.weight)])


def test_kernel_is_drawn_with_keras_fans():
    torch.manual_seed(0)
    layer = layers.Conv2D(64, 3)
    layer(torch.zeros(1, 5, 5, 32))
    fan_in, fan_out = 3 * 3 * 32, 3 * 3 * 64
    limit = math.sqrt(6 / (fan_in + fan_out))  # Glorot uniform on Keras's fans
    assert layer.kernel.abs().max() <= limit
    assert layer.kernel.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.05)


def _keras_transpose_length(n, kernel, stride, padding, output_padding=None):
    """Keras's deconv_output_length (conv_utils), kernel not dilated."""
    if output_padding is None:
        return n * stride if padding == "same" else n * stride + max(kernel - stride, 0)
    pad = kernel // 2 if padding == "same" else 0
    return (n - 1) * stride + kernel - 2 * pad + output_padding


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "output_padding"),
    [
        (4, 2, "same", None),
        (3, 2, "same", None),
        (3, 1, "same", None),
        (5, 2, "same", None),
        (3, 2, "valid", None),
        (1, 3, "valid", None),
        (3, 2, "valid", 1),
    ],
)
def test_transposed_convolution_lengths_follow_keras(kernel, stride, padding, output_padding):
    x = _rand(2, 5, 6, 3)
    layer = layers.Conv2DTranspose(
        4, kernel, strides=stride, padding=padding, output_padding=output_padding
    )
    out = layer(x.float())
    assert tuple(out.shape) == (
        2,
        _keras_transpose_length(5, kernel, stride, padding, output_padding),
        _keras_transpose_length(6, kernel, stride, padding, output_padding),
        4,
    )


@pytest.mark.parametrize(("kernel", "stride"), [(4, 2), (2, 2), (3, 1)])
def test_transposed_convolution_is_the_adjoint_of_same_convolution(kernel, stride):
    """Where Keras's backends agree (symmetric "same" padding), Conv2DTranspose is the
    gradient of Conv2D with respect to its input: <conv(u), v> = <conv_T(v), u>."""
    v = _rand(1, 4, 4, 3)
    transpose = built_double(
        layers.Conv2DTranspose(2, kernel, strides=stride, padding="same", use_bias=False), v
    )
    u = _rand(1, 4 * stride, 4 * stride, 2)
    # The forward convolution with the same kernel: torch layout (out=3, in=2, k, k).
    conv = built_double(layers.Conv2D(3, kernel, strides=stride, padding="same", use_bias=False), u)
    with torch.no_grad():
        conv.kernel.copy_(transpose.kernel)
    left = (conv(u) * v).sum()
    right = (transpose(v) * u).sum()
    torch.testing.assert_close(left, right, atol=1e-10, rtol=1e-10)


def test_transposed_convolution_matches_torch_module():
    x = _rand(2, 5, 5, 3)
    layer = built_double(layers.Conv2DTranspose(4, 4, strides=2, padding="same"), x)
    module = torch.nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1).double()
    with torch.no_grad():
        module.weight.copy_(layer.kernel)
        module.bias.copy_(layer.bias)
    compare(
        layer,
        lambda v: channels_last(module(channels_first(v))),
        x,
        [(layer.kernel, module.weight), (layer.bias, module.bias)],
    )


def test_separable_convolution_is_depthwise_then_pointwise():
    x = _rand(2, 7, 7, 3)
    layer = built_double(layers.SeparableConv2D(5, 3, depth_multiplier=2), x)
    depthwise = torch.nn.Conv2d(3, 6, 3, groups=3, bias=False).double()
    pointwise = torch.nn.Conv2d(6, 5, 1).double()
    with torch.no_grad():
        depthwise.weight.copy_(layer.kernel)
        pointwise.weight.copy_(layer.pointwise_kernel)
        pointwise.bias.copy_(layer.bias)
    compare(
        layer,
        lambda v: channels_last(pointwise(depthwise(channels_first(v)))),
        x,
        [
            (layer.kernel, depthwise.weight),
            (layer.pointwise_kernel, pointwise.weight),
            (layer.bias, pointwise.bias),
        ],
    )
    assert layer.count_params() == 3 * 3 * 3 * 2 + 6 * 5 + 5


def test_depthwise_output_channels_follow_keras_order():
    """Output channel c·m + j is input channel c convolved with its j-th kernel."""
    x = torch.zeros(1, 3, 3, 2, dtype=torch.float64)
    x[..., 1] = 1.0
    layer = built_double(layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False), x)
    out = layer(x).detach()
    assert torch.all(out[..., :2] == 0)
    torch.testing.assert_close(out[0, 0, 0, 2:], layer.kernel[2:].sum(dim=(1, 2, 3)).detach())


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("filters", 0),
        ("kernel_size", (3, 0)),
        ("padding", "full"),
        ("strides", -1),
        ("data_format", "nhwc"),
    ],
)
def test_bad_arguments_are_named(argument, value):
    kwargs = {"filters": 2, "kernel_size": 3, argument: value}
    with pytest.raises(ValueError, match=argument):
        layers.Conv2D(**kwargs)


def test_wrong_rank_is_a_clear_error():
    with pytest.raises(ValueError, match="rank 4"):
        layers.Conv2D(2, 3)(torch.zeros(2, 8, 3))
