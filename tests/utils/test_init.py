"""``deepdescent.utils``' own helpers (``utils/__init__.py``): ``to_categorical`` against
NumPy's identity matrix, ``normalize`` against ``np.linalg.norm``, and
``set_random_seed``."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from deepdescent.utils import normalize, set_random_seed, to_categorical


def test_to_categorical_is_rows_of_the_identity():
    labels = np.array([2, 0, 1, 2])
    np.testing.assert_array_equal(to_categorical(labels), np.eye(3)[labels])
    np.testing.assert_array_equal(to_categorical(labels, 5), np.eye(5)[labels])
    assert to_categorical(labels).dtype == np.float32
    assert to_categorical(labels, dtype="int64").dtype == np.int64


def test_to_categorical_drops_a_trailing_axis_of_one_and_keeps_others():
    column = np.array([[1], [0], [3]])
    np.testing.assert_array_equal(to_categorical(column), np.eye(4)[[1, 0, 3]])
    grid = np.array([[0, 1], [1, 1]])
    assert to_categorical(grid).shape == (2, 2, 2)
    np.testing.assert_array_equal(to_categorical(grid)[1, 0], [0.0, 1.0])
    np.testing.assert_array_equal(to_categorical([1.0, 0.0]), np.eye(2)[[1, 0]])


@pytest.mark.parametrize(
    ("labels", "num_classes", "message"),
    [
        ([0.5, 1.0], None, "integer class labels"),
        ([-1, 0], None, "labels >= 0, found -1"),
        ([0, 3], 3, "num_classes=3 is too small for label 3"),
    ],
)
def test_to_categorical_refuses_what_is_not_a_class_label(labels, num_classes, message):
    with pytest.raises(ValueError, match=message):
        to_categorical(labels, num_classes)


@pytest.mark.parametrize(("axis", "order"), [(-1, 2), (0, 2), (-1, 1)])
def test_normalize_divides_by_the_norm_and_leaves_zero_rows(axis, order):
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    norms = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    expected = x / np.where(norms == 0, 1, norms)
    np.testing.assert_allclose(normalize(x, axis=axis, order=order), expected, rtol=1e-15)
    assert normalize(x).dtype == np.float64
    assert normalize(x.astype(np.float32)).dtype == np.float32


def test_set_random_seed_fixes_python_numpy_and_torch():
    def draws():
        return random.random(), np.random.rand(), torch.rand(()).item()

    set_random_seed(123)
    first = draws()
    set_random_seed(123)
    assert draws() == first
    set_random_seed(124)
    assert draws() != first


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_set_random_seed_refuses_what_is_not_a_seed(seed):
    with pytest.raises(ValueError, match=f"seed must be a non-negative int, got {seed!r}"):
        set_random_seed(seed)
