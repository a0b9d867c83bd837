"""The layer base: freezing, Keras's weight and loss API, calling conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent import layers
from deepdescent.variables import Variable


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
