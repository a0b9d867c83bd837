"""Weight penalties against their closed forms and gradients, and the look-up rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from deepdescent import regularizers

W = np.random.default_rng(0).normal(size=(6, 4))


def _w(requires_grad=False):
    return torch.tensor(W, dtype=torch.float64, requires_grad=requires_grad)


@pytest.mark.parametrize(
    ("regularizer", "expected"),
    [
        (regularizers.L1(), 0.01 * np.abs(W).sum()),
        (regularizers.L1(l1=0.3), 0.3 * np.abs(W).sum()),
        (regularizers.L2(), 0.01 * (W**2).sum()),
        (regularizers.L2(l2=0.5), 0.5 * (W**2).sum()),
        (regularizers.L1L2(l1=0.2, l2=0.1), 0.2 * np.abs(W).sum() + 0.1 * (W**2).sum()),
        (regularizers.L1L2(), 0.0),
    ],
)
def test_penalties_match_closed_forms(regularizer, expected):
    penalty = regularizer(_w())
    assert penalty.shape == () and penalty.dtype == torch.float64
    np.testing.assert_allclose(penalty.item(), expected, rtol=1e-12)


def test_l2_gradient_is_two_lambda_w():
    w = _w(requires_grad=True)
    regularizers.L2(l2=0.05)(w).backward()
    torch.testing.assert_close(w.grad, 2 * 0.05 * w.detach())


def test_l1_gradient_is_lambda_sign_w():
    w = _w(requires_grad=True)
    regularizers.L1L2(l1=0.2)(w).backward()
    torch.testing.assert_close(w.grad, 0.2 * torch.sign(w.detach()))


def test_orthogonal_regularizer_against_hand_computed_cosines():
    # Rows (1, 0) and (1, 1) meet at 45°: one pair, |cos| = 1/√2.
    w = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    value = regularizers.OrthogonalRegularizer(factor=0.1)(w)
    np.testing.assert_allclose(value.item(), 0.1 * 0.5 * 2 / math.sqrt(2), rtol=1e-12)
    # Columns (1, 1) and (0, 1) also meet at 45°.
    columns = regularizers.OrthogonalRegularizer(factor=0.1, mode="columns")(w)
    np.testing.assert_allclose(columns.item(), 0.1 * 0.5 * 2 / math.sqrt(2), rtol=1e-12)


def test_orthogonal_regularizer_vanishes_on_orthogonal_rows():
    q, _ = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64))
    assert regularizers.OrthogonalRegularizer(factor=1.0)(3.0 * q).item() == pytest.approx(0)
    with pytest.raises(ValueError, match="2-D weight"):
        regularizers.OrthogonalRegularizer()(torch.ones(2, 2, 2))
    with pytest.raises(ValueError, match="mode must be"):
        regularizers.OrthogonalRegularizer(mode="diagonal")


@pytest.mark.parametrize(
    ("factory", "argument"),
    [
        (lambda: regularizers.L2(l2=-0.1), "l2"),
        (lambda: regularizers.L1(l1=float("nan")), "l1"),
        (lambda: regularizers.L1L2(l1=0.1, l2="0.1"), "l2"),
        (lambda: regularizers.OrthogonalRegularizer(factor=-1), "factor"),
    ],
)
def test_bad_factors_name_the_argument(factory, argument):
    with pytest.raises(ValueError, match=f"{argument} must be a non-negative finite number"):
        factory()


@pytest.mark.parametrize(
    ("name", "cls", "config"),
    [
        ("l1", regularizers.L1, {"l1": 0.01}),
        ("l2", regularizers.L2, {"l2": 0.01}),
        ("L2", regularizers.L2, {"l2": 0.01}),
        ("l1_l2", regularizers.L1L2, {"l1": 0.01, "l2": 0.01}),
        (
            "orthogonal_regularizer",
            regularizers.OrthogonalRegularizer,
            {"factor": 0.01, "mode": "rows"},
        ),
    ],
)
def test_get_by_name_builds_keras_documented_defaults(name, cls, config):
    regularizer = regularizers.get(name)
    assert type(regularizer) is cls and regularizer.get_config() == config


def test_get_other_identifiers_and_round_trip():
    assert regularizers.get(None) is None
    l2 = regularizers.L2(0.3)
    assert regularizers.get(l2) is l2
    spec = json.loads(json.dumps(regularizers.serialize(regularizers.L1L2(l1=0.1, l2=0.2))))
    rebuilt = regularizers.get(spec)
    assert type(rebuilt) is regularizers.L1L2 and rebuilt.get_config() == {"l1": 0.1, "l2": 0.2}

    def penalty(w):
        return w.abs().max()

    assert regularizers.get(penalty) is penalty
    with pytest.raises(ValueError, match=r"Unknown regularizer 'l3'"):
        regularizers.get("l3")
    with pytest.raises(TypeError, match="regularizer must be"):
        regularizers.get(0.01)


def test_penalty_stays_on_the_weights_device():
    w = torch.zeros(3, 3, device="meta")
    for regularizer in (regularizers.L1(), regularizers.L2(), regularizers.L1L2(0.1, 0.1)):
        assert regularizer(w).device.type == "meta"
