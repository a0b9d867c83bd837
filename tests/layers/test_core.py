"""The core layers against torch's functional forms: Dense is ``F.linear`` with Keras's
(in, out) kernel transposed, Dropout is inverted dropout, Flatten/Reshape are views; the
pre-activation hooks see z before the activation, whichever way the layer is called."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepdescent import layers
from deepdescent.layers import Activation, Dense, Dropout, Flatten, Reshape


def _leaf(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().clone().requires_grad_()


# -- Dense ----------------------------------------------------------------------------------


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("batch_shape", [(5,), (2, 3)], ids=["matrix", "3-d"])
@pytest.mark.parametrize("activation", [None, "tanh"])
def test_dense_is_f_linear_with_the_transposed_kernel(use_bias, batch_shape, activation):
    """Outputs and the gradients in x, W and b against torch.nn.functional.linear, whose
    weight is (out, in): Keras's kernel W (in, out) transposed."""
    torch.manual_seed(0)
    layer = Dense(3, activation=activation, use_bias=use_bias, bias_initializer="random_normal")
    layer.build((None, 4))
    layer.double()
    x = torch.randn(*batch_shape, 4, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(*batch_shape, 3, dtype=torch.float64)
    out = layer(x)
    out.backward(upstream)

    x_ref, weight_ref = _leaf(x), _leaf(layer.kernel.T)
    bias_ref = _leaf(layer.bias) if use_bias else None
    expected = F.linear(x_ref, weight_ref, bias_ref)
    if activation == "tanh":
        expected = torch.tanh(expected)
    expected.backward(upstream)

    tight = {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(out, expected, **tight)
    torch.testing.assert_close(x.grad, x_ref.grad, **tight)
    torch.testing.assert_close(layer.kernel.grad, weight_ref.grad.T, **tight)
    if use_bias:
        torch.testing.assert_close(layer.bias.grad, bias_ref.grad, **tight)
    else:
        assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["kernel"]


def test_dense_kernel_has_keras_layout_and_order():
    layer = Dense(3, input_shape=(4,))
    assert [(name, tuple(p.shape)) for name, p in layer.named_parameters()] == [
        ("kernel", (4, 3)),
        ("bias", (3,)),
    ]
    assert layer.compute_output_shape((None, 7, 4)) == (None, 7, 3)


def test_dense_default_initialization_is_glorot_uniform_and_zero_bias():
    """Glorot & Bengio (2010): U(−l, l) with l = √(6 / (fan_in + fan_out)), so every
    weight within l, the largest close to it, and the variance l²/3 = 2 / (fan_in + fan_out)."""
    torch.manual_seed(0)
    fan_in, fan_out = 300, 200
    layer = Dense(fan_out, input_shape=(fan_in,))
    kernel = layer.kernel.detach().double().numpy()
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit
    # 60,000 draws: the sample variance is within 1.5 % of its expectation (about 4 σ).
    assert kernel.var() == pytest.approx(2 / (fan_in + fan_out), rel=0.015)
    assert abs(kernel.mean()) < 4 * limit / math.sqrt(3 * kernel.size)
    np.testing.assert_array_equal(layer.bias.detach().numpy(), np.zeros(fan_out))


def test_dense_regularizers_add_their_penalties():
    layer = Dense(
        3,
        input_shape=(4,),
        bias_initializer="ones",
        kernel_regularizer="l2",
        bias_regularizer="l1",
    )
    kernel, bias = layer.kernel.detach(), layer.bias.detach()
    penalties = [p.item() for p in layer.regularization_losses()]
    # Keras's defaults: L2(0.01) is 0.01 Σ w², L1(0.01) is 0.01 Σ |b|.
    assert penalties == pytest.approx(
        [0.01 * float((kernel**2).sum()), 0.01 * float(bias.abs().sum())]
    )
    assert Dense(3, input_shape=(4,)).regularization_losses() == []


@pytest.mark.parametrize("units", [0, -2, 2.5, True, "8"])
def test_dense_refuses_units_that_are_not_a_positive_int(units):
    with pytest.raises(
        ValueError, match=rf"^Invalid units: {units!r} \(expected a positive int\)$"
    ):
        Dense(units)


def test_unknown_activation():
    with pytest.raises(ValueError, match=r"activation.*Did you mean 'sigmoid'"):
        Dense(3, activation="sigmod")


def test_dense_needs_a_known_last_axis_and_initializers():
    with pytest.raises(ValueError, match=r"known last axis, got shape \(None,\)"):
        Dense(3).build((None,))
    with pytest.raises(ValueError, match="Invalid kernel_initializer: None"):
        Dense(3, kernel_initializer=None, input_shape=(2,))


def test_dense_documents_itself():
    assert Dense.__doc__ is not None and Dense.__doc__.startswith("Fully connected layer")


# -- the pre-activation hooks -----------------------------------------------------------------


def test_a_pre_activation_hook_sees_z_before_the_activation_in_call_and_call_pre_activation():
    torch.manual_seed(0)
    layer = Dense(3, activation="softmax", input_shape=(4,), bias_initializer="random_normal")
    seen = []
    handle = layer.register_pre_activation_hook(
        lambda module, inputs, z: seen.append((module, inputs, z))
    )
    x = torch.randn(5, 4)
    z_expected = F.linear(x, layer.kernel.detach().T, layer.bias.detach())

    out = layer(x)
    torch.testing.assert_close(out, torch.softmax(z_expected, dim=-1))
    pre = layer.call_pre_activation(x)
    torch.testing.assert_close(pre, z_expected)
    assert len(seen) == 2
    for module, inputs, z in seen:
        assert module is layer and inputs is x
        torch.testing.assert_close(z, z_expected)
        assert z.grad_fn is not None  # z keeps its graph: hooks may register tensor hooks

    handle.remove()
    layer(x)
    layer.call_pre_activation(x)
    assert len(seen) == 2


def test_pre_activation_hooks_run_in_order_and_are_removed_one_by_one():
    layer = Activation("relu")
    calls = []
    first = layer.register_pre_activation_hook(lambda _l, _i, _z: calls.append("first"))
    layer.register_pre_activation_hook(lambda _l, _i, z: calls.append(("second", z.tolist())))
    layer(torch.tensor([[-1.0, 2.0]]))
    first.remove()
    layer(torch.tensor([[3.0, -4.0]]))
    # An Activation's z is its input: the hook sees the values before the relu.
    assert calls == ["first", ("second", [[-1.0, 2.0]]), ("second", [[3.0, -4.0]])]


# -- Activation, Dropout, Flatten, Reshape, Input ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "reference"),
    [("relu", torch.relu), ("sigmoid", torch.sigmoid), ("softmax", lambda x: x.softmax(-1))],
)
def test_activation_applies_the_named_function(name, reference):
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(Activation(name)(x), reference(x), rtol=0, atol=0)


def test_dropout_keeps_each_unit_with_probability_one_minus_rate_scaled_by_its_inverse():
    torch.manual_seed(0)
    rate, n = 0.3, 200_000
    out = Dropout(rate)(torch.ones(n))
    kept = out != 0
    # Binomial(n, 0.7): σ of the kept fraction is about 0.001; 5 σ allowed.
    assert float(kept.float().mean()) == pytest.approx(1 - rate, abs=5e-3)
    torch.testing.assert_close(out[kept], torch.full_like(out[kept], 1 / (1 - rate)))
    # Inverted dropout keeps the expected value of every unit.
    assert float(out.mean()) == pytest.approx(1.0, abs=0.01)  # σ ≈ 0.0015


def test_dropout_draws_a_fresh_mask_each_call_and_is_the_identity_in_eval():
    torch.manual_seed(0)
    layer = Dropout(0.5)
    x = torch.randn(1000)
    assert not torch.equal(layer(x) != 0, layer(x) != 0)
    layer.eval()
    assert layer(x) is x
    layer.train()
    assert Dropout(0.0)(x) is x


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_dropout_refuses_a_rate_outside_zero_to_one(rate):
    with pytest.raises(ValueError, match=rf"^Invalid rate: {rate!r} \(expected 0 <= rate < 1\)$"):
        Dropout(rate)


def test_flatten_keeps_the_batch_axis():
    x = torch.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    layer = Flatten()
    torch.testing.assert_close(layer(x), x.reshape(2, 60))
    assert layer.compute_output_shape((None, 3, 4, 5)) == (None, 60)
    assert layer.compute_output_shape((None, None, 4)) == (None, None)


@pytest.mark.parametrize(
    ("target", "input_shape", "output_shape"),
    [
        ((3, 4), (None, 12), (None, 3, 4)),
        ((-1, 4), (None, 12), (None, 3, 4)),
        ((2, -1, 2), (None, 3, 4), (None, 2, 3, 2)),
        ((-1,), (None, 2, 6), (None, 12)),
    ],
)
def test_reshape_output_and_its_declared_shape_agree(target, input_shape, output_shape):
    layer = Reshape(target)
    x = torch.arange(2 * math.prod(input_shape[1:]) * 1.0).reshape(2, *input_shape[1:])
    out = layer(x)
    assert layer.compute_output_shape(input_shape) == output_shape
    assert tuple(out.shape) == (2, *output_shape[1:])
    torch.testing.assert_close(out.reshape(-1), x.reshape(-1))


def test_reshape_with_an_unknown_input_size_leaves_minus_one_unknown():
    assert Reshape((-1, 4)).compute_output_shape((None, None, 2)) == (None, None, 4)


@pytest.mark.parametrize("target", [(), (-1, -1), (0, 3), (2.5,), ("a",), (-2, 3)])
def test_reshape_refuses_invalid_targets(target):
    with pytest.raises(ValueError, match=r"^Invalid target_shape: .*at most one -1\)$"):
        Reshape(target)


# -- configs --------------------------------------------------------------------------------


CONFIGURED = [
    Dense(
        4,
        activation="relu",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer="l2",
        name="hidden",
    ),
    Dense(2, activation="softmax", bias_regularizer="l1"),
    Activation("tanh", name="squash"),
    Dropout(0.25),
    Flatten(name="flat"),
    Reshape((-1, 2)),
    layers.InputLayer(shape=(3, 4)),
]


@pytest.mark.parametrize("layer", CONFIGURED, ids=lambda layer: type(layer).__name__)
def test_get_config_round_trips_through_json(layer):
    config = layer.get_config()
    spec = json.loads(json.dumps(layers.serialize(layer)))
    rebuilt = layers.deserialize(spec)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == config
    assert type(layer)(**config).get_config() == config


def test_dense_config_names_what_keras_names():
    config = CONFIGURED[0].get_config()
    assert config["units"] == 4 and config["activation"] == "relu"
    assert config["use_bias"] is False and config["name"] == "hidden"
    assert config["kernel_initializer"]["class_name"] == "HeNormal"
    assert config["kernel_regularizer"]["class_name"] == "L2"
    assert config["bias_regularizer"] is None


def test_deserialize_refuses_unknown_layers():
    with pytest.raises(ValueError, match=r"Unknown layer 'Dense2'\. Did you mean 'Dense'\?"):
        layers.deserialize({"class_name": "Dense2", "config": {}})
    with pytest.raises(ValueError, match="layer config must be a dict"):
        layers.deserialize("Dense")


def test_embedding_matches_torch_and_draws_keras_uniform():
    torch.manual_seed(0)
    layer = layers.Embedding(10, 3)
    ids = torch.tensor([[1, 4, 4], [0, 9, 2]])
    out = layer(ids)
    module = torch.nn.Embedding(10, 3)
    with torch.no_grad():
        module.weight.copy_(layer.embeddings)
    torch.testing.assert_close(out, module(ids))
    out.sum().backward()
    module(ids).sum().backward()
    torch.testing.assert_close(layer.embeddings.grad, module.weight.grad)
    assert layer.embeddings.abs().max() <= 0.05


def test_embedding_accepts_integer_numpy_and_float_ids():
    import numpy as np

    layer = layers.Embedding(5, 2)
    ids = np.array([[1, 2], [3, 4]])
    torch.testing.assert_close(layer(ids), layer(torch.tensor(ids, dtype=torch.float32)))


def test_embedding_masks_are_refused_clearly():
    with pytest.raises(ValueError, match="mask_zero"):
        layers.Embedding(5, 2, mask_zero=True)


def test_dense_works_on_the_last_axis_of_any_rank():
    layer = layers.Dense(4)
    x = torch.randn(2, 3, 5)
    out = layer(x)
    torch.testing.assert_close(out, x @ layer.kernel + layer.bias)
    assert tuple(layer.kernel.shape) == (5, 4)
