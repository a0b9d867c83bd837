"""Pooling against torch.nn's pools ("valid") and a loop transcription of Keras's "same"
windows, which average over the inputs they cover."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layers._compare import channels_first, channels_last, compare
from reference import convolution

from deepdescent import layers


def _rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    ("cls", "module"),
    [
        (layers.MaxPooling2D, torch.nn.MaxPool2d(3, 2)),
        (layers.AveragePooling2D, torch.nn.AvgPool2d(3, 2)),
    ],
)
def test_valid_pooling_matches_torch(cls, module):
    compare(cls(3, 2), lambda v: channels_last(module(channels_first(v))), _rand(2, 9, 8, 3))


@pytest.mark.parametrize(
    ("cls", "module"),
    [
        (layers.MaxPooling1D, torch.nn.MaxPool1d(2)),
        (layers.AveragePooling1D, torch.nn.AvgPool1d(2)),
    ],
)
def test_one_dimensional_pooling_matches_torch(cls, module):
    compare(cls(2), lambda v: channels_last(module(channels_first(v))), _rand(2, 9, 3))


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize(("size", "stride", "length"), [(2, 2, 7), (3, 2, 8), (3, 1, 5)])
def test_same_pooling_matches_loop_reference(kind, size, stride, length):
    cls = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    x = _rand(2, length, length + 1, 3)
    out = cls(size, stride, padding="same")(x)
    expected = convolution.pool2d(x.numpy(), size, stride, "same", kind)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)


def test_strides_default_to_pool_size():
    assert layers.MaxPooling2D((2, 3)).strides == (2, 3)


@pytest.mark.parametrize(
    ("cls", "reduce"),
    [
        (layers.GlobalAveragePooling2D, lambda v: v.mean(dim=(1, 2))),
        (layers.GlobalMaxPooling2D, lambda v: v.amax(dim=(1, 2))),
        (layers.GlobalAveragePooling1D, lambda v: v.mean(dim=1)),
        (layers.GlobalMaxPooling1D, lambda v: v.amax(dim=1)),
    ],
)
def test_global_pooling_reduces_the_spatial_axes(cls, reduce):
    x = _rand(2, 4, 5, 3) if "2D" in cls.__name__ else _rand(2, 6, 3)
    compare(cls(), reduce, x)


def test_global_pooling_keepdims_and_channels_first():
    x = _rand(2, 3, 4, 5)
    out = layers.GlobalAveragePooling2D(data_format="channels_first", keepdims=True)(x)
    torch.testing.assert_close(out, x.mean(dim=(2, 3), keepdim=True))


def test_wrong_rank_is_a_clear_error():
    with pytest.raises(ValueError, match="rank 4"):
        layers.MaxPooling2D()(torch.zeros(2, 3, 4))
