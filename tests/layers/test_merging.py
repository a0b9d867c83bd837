"""Merge layers against torch's element-wise functions, and the functional shortcuts."""

from __future__ import annotations

import pytest
import torch
from layers._compare import TOLERANCE

from deepdescent import layers


def _inputs(count: int = 3, shape=(2, 4)) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return [
        torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)
        for _ in range(count)
    ]


MERGES = [
    (layers.Add, lambda xs: xs[0] + xs[1] + xs[2]),
    (layers.Multiply, lambda xs: xs[0] * xs[1] * xs[2]),
    (layers.Average, lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
    (layers.Maximum, lambda xs: torch.max(torch.stack(xs), dim=0).values),
    (layers.Minimum, lambda xs: torch.min(torch.stack(xs), dim=0).values),
    (layers.Concatenate, lambda xs: torch.cat(xs, dim=-1)),
]


@pytest.mark.parametrize(("cls", "reference"), MERGES)
def test_merges_match_torch_with_gradients(cls, reference):
    ours, theirs = _inputs(), _inputs()
    out, expected = cls()(ours), reference(theirs)
    torch.testing.assert_close(out, expected, atol=TOLERANCE, rtol=TOLERANCE)
    out.sum().backward()
    expected.sum().backward()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad)


def test_subtract_takes_exactly_two():
    a, b, _ = _inputs()
    torch.testing.assert_close(layers.Subtract()([a, b]), a - b)
    with pytest.raises(ValueError, match="2 tensors"):
        layers.Subtract()(_inputs())


def test_concatenate_axis_and_broadcasting_add():
    a, b = _inputs(2, (2, 3, 4))
    torch.testing.assert_close(layers.Concatenate(axis=1)([a, b]), torch.cat([a, b], dim=1))
    row = torch.ones(1, 4, dtype=torch.float64)
    torch.testing.assert_close(layers.Add()([a, row]), a + 1)


@pytest.mark.parametrize(
    ("axes", "shapes", "equation"),
    [
        (1, ((2, 4), (2, 4)), "bi,bi->b"),
        ((2, 2), ((2, 3, 4), (2, 5, 4)), "bik,bjk->bij"),
        ((1, 1), ((2, 3, 4), (2, 3, 5)), "bki,bkj->bij"),
    ],
)
def test_dot_is_a_batched_contraction(axes, shapes, equation):
    g = torch.Generator().manual_seed(6)
    a, b = (torch.randn(*s, dtype=torch.float64, generator=g) for s in shapes)
    expected = torch.einsum(equation, a, b)
    out = layers.Dot(axes)([a, b])
    torch.testing.assert_close(out, expected if expected.ndim > 1 else expected[:, None])


def test_dot_normalize_is_cosine_similarity():
    a, b = _inputs(2)
    out = layers.Dot(1, normalize=True)([a, b])
    torch.testing.assert_close(out[:, 0], torch.nn.functional.cosine_similarity(a, b))


@pytest.mark.parametrize(
    ("function", "cls"),
    [
        (layers.add, layers.Add),
        (layers.concatenate, layers.Concatenate),
        (layers.multiply, layers.Multiply),
        (layers.average, layers.Average),
        (layers.maximum, layers.Maximum),
        (layers.minimum, layers.Minimum),
    ],
)
def test_functional_shortcuts_are_the_layers(function, cls):
    xs = _inputs()
    torch.testing.assert_close(function(xs), cls()(xs))


def test_a_merge_needs_a_list():
    with pytest.raises(ValueError, match="list"):
        layers.Add()(torch.zeros(2, 3))
