"""Activations against NumPy transcriptions of their formulas, and the look-up rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepdescent import activations

X = np.concatenate([np.linspace(-8.0, 8.0, 97), [-3.0, 0.0, 3.0, 6.0]])
_erf = np.vectorize(math.erf)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _relu6(x):
    return np.clip(x, 0.0, 6.0)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805

# name, function, NumPy reference written from the formula
ELEMENTWISE = [
    ("linear", activations.linear, lambda x: x),
    ("sigmoid", activations.sigmoid, _sigmoid),
    ("relu", activations.relu, lambda x: np.maximum(x, 0.0)),
    ("leaky_relu", activations.leaky_relu, lambda x: np.where(x >= 0, x, 0.2 * x)),
    ("elu", activations.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    (
        "selu",
        activations.selu,
        lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
    ),
    ("gelu", activations.gelu, lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))),
    ("tanh", activations.tanh, np.tanh),
    ("softplus", activations.softplus, _softplus),
    ("softsign", activations.softsign, lambda x: x / (1.0 + np.abs(x))),
    ("silu", activations.silu, lambda x: x * _sigmoid(x)),
    ("swish", activations.swish, lambda x: x * _sigmoid(x)),
    ("hard_sigmoid", activations.hard_sigmoid, lambda x: _relu6(x + 3.0) / 6.0),
    ("hard_silu", activations.hard_silu, lambda x: x * _relu6(x + 3.0) / 6.0),
    ("hard_swish", activations.hard_swish, lambda x: x * _relu6(x + 3.0) / 6.0),
    ("exponential", activations.exponential, np.exp),
    ("relu6", activations.relu6, _relu6),
    ("mish", activations.mish, lambda x: x * np.tanh(_softplus(x))),
]


@pytest.mark.parametrize(("name", "fn", "reference"), ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_elementwise_matches_formula(name, fn, reference):
    out = fn(torch.tensor(X, dtype=torch.float64))
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), reference(X), rtol=1e-12, atol=1e-12)
    assert activations.get(name) is fn


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax_along_axis(axis):
    x = np.random.default_rng(0).normal(size=(4, 5, 6)) * 10
    shifted = x - x.max(axis=axis, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    t = torch.tensor(x)
    np.testing.assert_allclose(activations.softmax(t, axis=axis).numpy(), np.exp(log_p), rtol=1e-12)
    np.testing.assert_allclose(activations.log_softmax(t, axis=axis).numpy(), log_p, atol=1e-12)


def test_log_softmax_is_finite_where_softmax_underflows():
    z = torch.tensor([[1000.0, 0.0, -1000.0]])
    assert activations.softmax(z)[0, 2] == 0
    np.testing.assert_allclose(activations.log_softmax(z).numpy(), [[0.0, -1000.0, -2000.0]])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [  # the examples of keras.activations.relu's documentation
        ({}, [0.0, 0.0, 0.0, 5.0, 10.0]),
        ({"negative_slope": 0.5}, [-5.0, -2.5, 0.0, 5.0, 10.0]),
        ({"max_value": 5.0}, [0.0, 0.0, 0.0, 5.0, 5.0]),
        ({"threshold": 5.0}, [0.0, 0.0, 0.0, 0.0, 10.0]),
        ({"negative_slope": 0.1, "max_value": 6.0, "threshold": 1.0}, [-1.1, -0.6, -0.1, 5, 6]),
    ],
)
def test_relu_keras_arguments(kwargs, expected):
    x = torch.tensor([-10.0, -5.0, 0.0, 5.0, 10.0])
    np.testing.assert_allclose(activations.relu(x, **kwargs).numpy(), expected, rtol=1e-6)


def test_gelu_defaults_to_exact_form_and_offers_tanh_approximation():
    x = torch.tensor(X)
    tanh_form = 0.5 * X * (1 + np.tanh(math.sqrt(2 / math.pi) * (X + 0.044715 * X**3)))
    np.testing.assert_allclose(
        activations.gelu(x, approximate=True).numpy(), tanh_form, rtol=1e-6, atol=1e-14
    )
    assert not torch.allclose(activations.gelu(x), activations.gelu(x, approximate=True))


def test_leaky_relu_and_elu_take_their_parameters():
    x = torch.tensor([-2.0, 3.0])
    assert activations.leaky_relu(x, negative_slope=0.5).tolist() == [-1.0, 3.0]
    np.testing.assert_allclose(activations.elu(x, alpha=2.0).numpy(), [2 * math.expm1(-2), 3.0])


def test_get_resolves_none_names_dicts_and_callables():
    assert activations.get(None) is activations.linear
    assert activations.get("ReLU") is activations.relu
    assert activations.get("hard-sigmoid") is activations.hard_sigmoid
    assert activations.get({"class_name": "tanh", "config": {}}) is activations.tanh
    custom = torch.nn.ReLU()
    assert activations.get(custom) is custom


def test_get_rejects_unknown_names_with_a_suggestion():
    with pytest.raises(ValueError, match=r"Unknown activation 'relux'.*'relu'"):
        activations.get("relux")
    with pytest.raises(TypeError, match="activation must be"):
        activations.get(3)
    with pytest.raises(ValueError, match="class_name"):
        activations.get({"name": "relu"})


@pytest.mark.parametrize(("name", "fn", "reference"), ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_serialize_round_trips(name, fn, reference):
    assert activations.get(activations.serialize(fn)) is fn


def test_serialize_names_aliases_canonically_and_refuses_unregistered():
    assert activations.serialize(activations.swish) == "silu"
    assert activations.serialize(activations.softmax) == "softmax"
    with pytest.raises(ValueError, match="cannot be saved"):
        activations.serialize(lambda x: 2 * x)


def test_activations_keep_shape_and_gradients_flow():
    x = torch.randn(3, 4, requires_grad=True)
    for name, fn, _ in ELEMENTWISE:
        y = fn(x)
        assert y.shape == x.shape, name
    activations.gelu(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
