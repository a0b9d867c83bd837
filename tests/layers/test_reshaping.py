"""Reshaping layers against torch.nn's modules and plain indexing."""

from __future__ import annotations

import pytest
import torch
from layers._compare import channels_first, channels_last, compare

from deepdescent import layers


def _x(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(8))


@pytest.mark.parametrize(
    ("layer", "module"),
    [
        (layers.UpSampling2D(), torch.nn.Upsample(scale_factor=2, mode="nearest")),
        (layers.UpSampling2D((2, 3)), torch.nn.Upsample(scale_factor=(2, 3), mode="nearest")),
        (
            layers.UpSampling2D(interpolation="bilinear"),
            torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        ),
        (layers.ZeroPadding2D(), torch.nn.ZeroPad2d(1)),
        (layers.ZeroPadding2D((1, 2)), torch.nn.ZeroPad2d((2, 2, 1, 1))),
        (layers.ZeroPadding2D(((1, 2), (3, 0))), torch.nn.ZeroPad2d((3, 0, 1, 2))),
    ],
    ids=["up-2", "up-2x3", "up-bilinear", "pad-1", "pad-hw", "pad-pairs"],
)
def test_spatial_layers_match_torch(layer, module):
    compare(layer, lambda v: channels_last(module(channels_first(v))), _x(2, 4, 5, 3))


def test_one_dimensional_layers():
    x = _x(2, 5, 3)
    torch.testing.assert_close(layers.UpSampling1D(3)(x), x.repeat_interleave(3, dim=1))
    torch.testing.assert_close(
        layers.ZeroPadding1D((1, 2))(x), torch.nn.functional.pad(x, (0, 0, 1, 2))
    )
    torch.testing.assert_close(layers.Cropping1D((1, 2))(x), x[:, 1:3])


def test_cropping2d_forms():
    x = _x(2, 6, 7, 3)
    torch.testing.assert_close(layers.Cropping2D(1)(x), x[:, 1:5, 1:6])
    torch.testing.assert_close(layers.Cropping2D(((1, 2), (0, 3)))(x), x[:, 1:4, 0:4])
    with pytest.raises(ValueError, match="cannot crop"):
        layers.Cropping2D(4)(x)


def test_permute_and_repeat_vector():
    x = _x(2, 3, 4)
    torch.testing.assert_close(layers.Permute((2, 1))(x), x.transpose(1, 2))
    v = _x(2, 4)
    torch.testing.assert_close(layers.RepeatVector(3)(v), v[:, None].expand(2, 3, 4))


def test_flatten_and_reshape_keep_keras_order():
    x = _x(2, 3, 4, 5)
    torch.testing.assert_close(layers.Flatten()(x), x.reshape(2, 60))
    torch.testing.assert_close(layers.Reshape((4, -1))(x), x.reshape(2, 4, 15))


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: layers.ZeroPadding2D((1, 2, 3)), "padding"),
        (lambda: layers.Permute((1, 3)), "dims"),
        (lambda: layers.UpSampling2D(interpolation="cubic"), "interpolation"),
        (lambda: layers.RepeatVector(0), "n"),
    ],
)
def test_bad_arguments_are_named(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()
