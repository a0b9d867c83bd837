"""The layer base: per-sample shapes with a batch axis, and weights built on first use
from the input's shape, on the input's device."""

from __future__ import annotations

import pytest
import torch

from deepdescent.layers.base import Layer, batch_shape


@pytest.mark.parametrize(
    ("shape", "expected"), [((784,), (None, 784)), ([28, 28], (None, 28, 28)), ((), (None,))]
)
def test_batch_shape_puts_the_batch_axis_first(shape, expected):
    assert batch_shape(shape) == expected


@pytest.mark.parametrize(
    ("shape", "error", "message"),
    [
        (3, TypeError, "input_shape must be a tuple of ints, got 3"),
        ((0, 3), ValueError, r"input_shape must hold positive ints, got \(0, 3\)"),
        ((2.0,), ValueError, r"input_shape must hold positive ints, got \(2\.0,\)"),
        ((None, 3), ValueError, r"input_shape must hold positive ints, got \(None, 3\)"),
    ],
)
def test_batch_shape_refuses_what_is_not_a_shape(shape, error, message):
    with pytest.raises(error, match=f"^{message}$"):
        batch_shape(shape)


def test_batch_shape_names_the_argument_it_checks():
    with pytest.raises(ValueError, match=r"^shape must hold positive ints"):
        batch_shape((-1,), argument="shape")


class Scale(Layer):
    """x ↦ x · w with one weight per feature, built from the input's last axis."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.builds: list[tuple] = []

    def build(self, input_shape):
        self.builds.append(tuple(input_shape))
        self.weight = torch.nn.Parameter(torch.arange(1.0, input_shape[-1] + 1))
        super().build(input_shape)

    def call(self, inputs):
        return inputs * self.weight


def test_a_layer_builds_once_on_first_call_from_the_input_shape():
    layer = Scale(name="scale")
    assert not layer.built and layer.build_input_shape is None
    x = torch.ones(5, 2, 3)
    torch.testing.assert_close(layer(x), x * torch.tensor([1.0, 2.0, 3.0]))
    assert layer.built and layer.builds == [(None, 2, 3)]
    assert layer.build_input_shape == (None, 2, 3)
    layer(torch.ones(7, 2, 3))
    assert layer.builds == [(None, 2, 3)]


def test_a_layer_built_on_first_call_lives_on_the_input_device():
    # The meta device stands in for an accelerator: the weights are created on the CPU
    # and must follow the input.
    layer = Scale()
    out = layer(torch.ones(2, 3, device="meta"))
    assert layer.weight.device.type == "meta" and out.device.type == "meta"


def test_input_shape_and_input_dim_declare_the_per_sample_shape():
    assert Layer(input_shape=(2, 3)).build_input_shape == (None, 2, 3)
    assert Layer(input_dim=5).build_input_shape == (None, 5)
    with pytest.raises(ValueError, match="input_shape must hold positive ints"):
        Layer(input_dim=0)


def test_the_base_layer_is_the_identity_with_no_weights_or_penalty():
    layer = Layer(name="pass")
    x = torch.randn(4, 3)
    assert layer(x) is x
    assert layer.compute_output_shape((None, 3)) == (None, 3)
    assert layer.regularization_losses() == []
    assert list(layer.parameters()) == []
    assert layer.get_config() == {"name": "pass"}
    assert repr(layer) == "Layer(name='pass')"
