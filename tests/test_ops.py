"""deepdescent.ops against NumPy, the functions' own reference (keras.ops follows NumPy's
names, arguments and results)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent import ops

RNG = np.random.default_rng(0)
A = RNG.normal(size=(3, 4))
B = RNG.normal(size=(3, 4))
P = np.abs(A) + 0.1

UNARY = [
    ("negative", np.negative, A),
    ("absolute", np.abs, A),
    ("abs", np.abs, A),
    ("square", np.square, A),
    ("sqrt", np.sqrt, P),
    ("rsqrt", lambda x: 1 / np.sqrt(x), P),
    ("exp", np.exp, A),
    ("log", np.log, P),
    ("log1p", np.log1p, P),
    ("sin", np.sin, A),
    ("cos", np.cos, A),
    ("tanh", np.tanh, A),
    ("sign", np.sign, A),
    ("floor", np.floor, A),
    ("ceil", np.ceil, A),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), A),
    ("relu", lambda x: np.maximum(x, 0), A),
    ("softplus", lambda x: np.log1p(np.exp(x)), A),
    ("silu", lambda x: x / (1 + np.exp(-x)), A),
    ("logical_not", np.logical_not, A > 0),
]

BINARY = [
    ("add", np.add),
    ("subtract", np.subtract),
    ("multiply", np.multiply),
    ("divide", np.divide),
    ("true_divide", np.true_divide),
    ("maximum", np.maximum),
    ("minimum", np.minimum),
    ("equal", np.equal),
    ("not_equal", np.not_equal),
    ("less", np.less),
    ("less_equal", np.less_equal),
    ("greater", np.greater),
    ("greater_equal", np.greater_equal),
    ("power", lambda a, b: np.power(np.abs(a), b)),
    ("mod", np.mod),
]

REDUCTIONS = [
    ("sum", np.sum),
    ("mean", np.mean),
    ("max", np.max),
    ("min", np.min),
    ("prod", np.prod),
    ("std", np.std),
    ("var", np.var),
]


@pytest.mark.parametrize(("name", "reference", "x"), UNARY, ids=[u[0] for u in UNARY])
def test_unary_functions_match_numpy(name, reference, x):
    np.testing.assert_allclose(
        ops.convert_to_numpy(getattr(ops, name)(x)), reference(x), rtol=1e-12
    )


@pytest.mark.parametrize(("name", "reference"), BINARY, ids=[b[0] for b in BINARY])
def test_binary_functions_broadcast_as_numpy(name, reference):
    a = np.abs(A) if name == "power" else A
    row = B[:1]
    np.testing.assert_allclose(ops.convert_to_numpy(getattr(ops, name)(a, row)), reference(a, row))
    np.testing.assert_allclose(
        ops.convert_to_numpy(getattr(ops, name)(torch.from_numpy(a), 2.0)), reference(a, 2.0)
    )


@pytest.mark.parametrize(("name", "reference"), REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(name, reference, axis, keepdims):
    got = ops.convert_to_numpy(getattr(ops, name)(A, axis=axis, keepdims=keepdims))
    np.testing.assert_allclose(got, reference(A, axis=axis, keepdims=keepdims), rtol=1e-12)


def test_argmax_logsumexp_any_all_cumsum():
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.argmax(A, axis=1)), A.argmax(1))
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.argmin(A)), A.argmin())
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.logsumexp(A, axis=1)), np.log(np.exp(A).sum(1))
    )
    assert bool(ops.any(A > 2)) == bool(np.any(A > 2))
    assert bool(ops.all(P > 0))
    np.testing.assert_allclose(ops.convert_to_numpy(ops.cumsum(A, axis=0)), A.cumsum(0))


def test_shape_functions_match_numpy():
    x = RNG.normal(size=(2, 3, 4))
    cases = [
        (ops.reshape(x, (6, -1)), x.reshape(6, -1)),
        (ops.transpose(x), x.transpose()),
        (ops.transpose(x, (1, 0, 2)), x.transpose(1, 0, 2)),
        (ops.expand_dims(x, 1), np.expand_dims(x, 1)),
        (ops.squeeze(x[:, :1], axis=1), np.squeeze(x[:, :1], axis=1)),
        (ops.concatenate([x, x], axis=1), np.concatenate([x, x], axis=1)),
        (ops.stack([x, x], axis=-1), np.stack([x, x], axis=-1)),
        (ops.tile(x, (1, 2, 1)), np.tile(x, (1, 2, 1))),
        (ops.repeat(x, 2, axis=2), np.repeat(x, 2, axis=2)),
        (ops.flip(x, axis=1), np.flip(x, axis=1)),
        (ops.broadcast_to(x[:, :1], (2, 3, 4)), np.broadcast_to(x[:, :1], (2, 3, 4))),
        (ops.take(x, np.array([2, 0]), axis=1), np.take(x, [2, 0], axis=1)),
        (ops.take_along_axis(x, np.argsort(x, 2), 2), np.take_along_axis(x, np.argsort(x, 2), 2)),
        (ops.sort(x, axis=1), np.sort(x, axis=1)),
        (ops.where(x > 0, x, 0.0), np.where(x > 0, x, 0.0)),
        (ops.clip(x, -0.5, 0.5), np.clip(x, -0.5, 0.5)),
        (ops.get_item(x, (slice(None), 1)), x[:, 1]),
    ]
    for got, want in cases:
        np.testing.assert_allclose(ops.convert_to_numpy(got), want)
    parts = ops.split(x, 2, axis=2)
    for got, want in zip(parts, np.split(x, 2, axis=2), strict=True):
        np.testing.assert_allclose(ops.convert_to_numpy(got), want)


def test_products_match_numpy():
    m, v = RNG.normal(size=(4, 5)), RNG.normal(size=5)
    np.testing.assert_allclose(ops.convert_to_numpy(ops.matmul(A, m)), A @ m)
    np.testing.assert_allclose(ops.convert_to_numpy(ops.dot(m, v)), np.dot(m, v))
    np.testing.assert_allclose(ops.convert_to_numpy(ops.dot(2.0, v)), np.dot(2.0, v))
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.einsum("ij,jk->ik", A, m)), np.einsum("ij,jk->ik", A, m)
    )


def test_nn_functions():
    e = np.exp(A - A.max(1, keepdims=True))
    np.testing.assert_allclose(ops.convert_to_numpy(ops.softmax(A)), e / e.sum(1, keepdims=True))
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.log_softmax(A)), np.log(e / e.sum(1, keepdims=True))
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.leaky_relu(A, 0.1)), np.where(A > 0, A, 0.1 * A)
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.elu(A)), np.where(A > 0, A, np.exp(A) - 1), rtol=1e-7
    )
    approx = 0.5 * A * (1 + np.tanh(np.sqrt(2 / np.pi) * (A + 0.044715 * A**3)))
    np.testing.assert_allclose(ops.convert_to_numpy(ops.gelu(A)), approx, rtol=1e-7)


def test_one_hot_and_cast_follow_keras_dtypes():
    encoded = ops.one_hot(np.array([2, 0]), num_classes=3)
    np.testing.assert_array_equal(ops.convert_to_numpy(encoded), np.eye(3)[[2, 0]])
    assert encoded.dtype == torch.float32
    assert ops.cast(A, "int32").dtype == torch.int32
    assert ops.convert_to_tensor([1.0, 2.0]).dtype == torch.float32
    assert ops.convert_to_tensor([1, 2]).dtype == torch.int32
    assert ops.convert_to_tensor(A).dtype == torch.float64


def test_creation_functions():
    assert ops.zeros((2, 3)).shape == (2, 3) and ops.ones((2,), "int32").dtype == torch.int32
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.arange(5)), np.arange(5))
    np.testing.assert_allclose(ops.convert_to_numpy(ops.linspace(0, 1, 5)), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.eye(3)), np.eye(3))
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.full((2,), 7.0)), [7.0, 7.0])
    values, indices = ops.top_k(np.array([1.0, 5.0, 3.0]), 2)
    np.testing.assert_array_equal(ops.convert_to_numpy(values), [5.0, 3.0])
    np.testing.assert_array_equal(ops.convert_to_numpy(indices), [1, 2])


def test_gradients_flow_through_ops():
    x = torch.tensor(A, requires_grad=True)
    ops.sum(ops.square(x)).backward()
    torch.testing.assert_close(x.grad, 2 * torch.tensor(A))


def test_every_listed_name_exists():
    for name in ops.__all__:
        assert hasattr(ops, name)
