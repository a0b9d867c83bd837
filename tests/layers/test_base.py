"""The layer base: per-sample shapes with a batch axis, and weights built on first use
from the input's shape, on the input's device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent import layers
from deepdescent.layers.base import Layer, batch_shape
from deepdescent.variables import Variable


@pytest.mark.parametrize(
    ("shape", "expected"), [((784,), (None, 784)), ([28, 28], (None, 28, 28)), ((), (None,))]
)
def test_batch_shape_puts_the_batch_axis_first(shape, expected):
    assert batch_shape(shape) == expected


@pytest.mark.parametrize(
    ("shape", "error", "message"),
    [
        (3, TypeError, "input_shape must be a tuple of ints, got 3"),
        ((0, 3), ValueError, r"input_shape must hold positive ints \(or None\), got \(0, 3\)"),
        ((2.0,), ValueError, r"input_shape must hold positive ints \(or None\), got \(2\.0,\)"),
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


def test_trainable_false_freezes_every_weight_inside():
    layer = layers.Bidirectional(layers.LSTM(3))
    layer(torch.zeros(2, 4, 5))
    layer.trainable = False
    assert not any(p.requires_grad for p in layer.parameters())
    assert not layer.forward_layer.trainable
    assert layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == 6
    layer.trainable = True
    assert all(p.requires_grad for p in layer.parameters())


def test_trainable_given_before_build_applies_to_the_weights_built_later():
    layer = layers.Dense(2, trainable=False)
    layer(torch.zeros(1, 3))
    assert not layer.kernel.requires_grad and not layer.bias.requires_grad
    assert layer.get_config()["trainable"] is False


def test_frozen_layer_gets_no_gradient():
    frozen, free = layers.Dense(3), layers.Dense(1)
    x = torch.randn(4, 2)
    frozen(x)
    frozen.trainable = False
    free(frozen(x)).sum().backward()
    assert frozen.kernel.grad is None and free.kernel.grad is not None


class Scaled(layers.Layer):
    """A custom layer written as Keras's guides write them."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="ones")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=False)

    def call(self, inputs, training=None):
        self.add_loss(0.5 * (self.w**2).sum())
        self.seen_training = training
        return inputs @ self.w + self.b


def test_add_weight_keeps_the_attribute_name_and_trainability():
    layer = Scaled(2)
    layer(torch.ones(3, 4))
    assert dict(layer.named_parameters()).keys() == {"w", "b"}
    assert [v.name for v in layer.trainable_weights] == ["w"]
    assert [v.name for v in layer.non_trainable_weights] == ["b"]
    torch.testing.assert_close(layer.w.detach(), torch.ones(4, 2))


def test_add_loss_terms_are_those_of_the_last_call():
    layer = Scaled(2)
    layer(torch.ones(3, 4))
    layer(torch.ones(3, 4))
    assert len(layer.losses) == 1
    torch.testing.assert_close(layer.losses[0], torch.tensor(4.0))


def test_training_argument_reaches_call_and_sets_the_mode():
    layer = Scaled(2)
    layer.eval()
    layer(torch.ones(1, 4), training=True)
    assert layer.seen_training is True
    assert not layer.training
    layer(torch.ones(1, 4))
    assert layer.seen_training is False
    dropout = layers.Dropout(0.5)
    dropout.eval()
    assert (dropout(torch.ones(1000), training=True) == 0).any()


def test_numpy_inputs_become_floatx_tensors():
    layer = layers.Dense(2)
    out = layer(np.ones((3, 4)))
    assert out.dtype == torch.float32


def test_variables_expose_the_parameter_and_keras_assign():
    layer = layers.Dense(2)
    layer(torch.ones(1, 3))
    kernel = layer.trainable_weights[0]
    assert isinstance(kernel, Variable)
    assert kernel.value is layer.kernel
    assert kernel.path.endswith("kernel") and kernel.shape == (3, 2)
    kernel.assign(np.zeros((3, 2)))
    assert torch.all(layer.kernel == 0)
    kernel.assign_add(np.ones((3, 2)))
    torch.testing.assert_close(torch.matmul(torch.ones(1, 3), kernel), torch.full((1, 2), 3.0))


def test_get_and_set_weights_round_trip():
    a, b = layers.Conv2D(2, 3), layers.Conv2D(2, 3)
    x = torch.randn(1, 5, 5, 1)
    a(x), b(x)
    b.set_weights(a.get_weights())
    torch.testing.assert_close(a(x), b(x))
    with pytest.raises(ValueError, match="shape"):
        b.set_weights([np.zeros((1, 1)), np.zeros(2)])


def test_names_are_checked():
    with pytest.raises(ValueError, match="name"):
        layers.Dense(2, name="a.b")


@pytest.mark.parametrize("freeze_after_first_fit", [False, True])
def test_fit_leaves_a_frozen_layer_exactly_where_it_was(freeze_after_first_fit):
    from deepdescent import optimizers
    from deepdescent.models import Sequential

    torch.manual_seed(0)
    model = Sequential([layers.Input(shape=(3,)), layers.Dense(4), layers.Dense(1)])
    model.compile(optimizer=optimizers.AdamW(learning_rate=0.1, weight_decay=0.1), loss="mse")
    x, y = np.random.default_rng(0).normal(size=(16, 3)), np.ones((16, 1))
    if freeze_after_first_fit:
        model.fit(x, y, epochs=1, verbose=0)
    model.layers[0].trainable = False
    frozen = [w.copy() for w in model.layers[0].get_weights()]
    free = [w.copy() for w in model.layers[1].get_weights()]
    model.fit(x, y, epochs=2, verbose=0)
    for before, after in zip(frozen, model.layers[0].get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert not np.allclose(free[0], model.layers[1].get_weights()[0])
    assert "Non-trainable params: 16" in model.summary(print_fn=lambda _: None)
