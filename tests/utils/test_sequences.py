"""pad_sequences against Keras's documented examples and rules."""

from __future__ import annotations

import numpy as np
import pytest

from deepdescent.utils import pad_sequences

SEQUENCES = [[1], [2, 3], [4, 5, 6]]


def test_keras_documented_examples():
    np.testing.assert_array_equal(pad_sequences(SEQUENCES), [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(
        pad_sequences(SEQUENCES, value=-1), [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]
    )
    np.testing.assert_array_equal(
        pad_sequences(SEQUENCES, padding="post"), [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
    )
    np.testing.assert_array_equal(pad_sequences(SEQUENCES, maxlen=2), [[0, 1], [2, 3], [5, 6]])


def test_truncating_post_keeps_the_start_and_dtype_is_kept():
    out = pad_sequences(SEQUENCES, maxlen=2, truncating="post", dtype="float32")
    np.testing.assert_array_equal(out, [[0, 1], [2, 3], [4, 5]])
    assert out.dtype == np.float32


def test_sequences_of_vectors_and_empty_ones():
    rows = [np.ones((2, 3)), np.zeros((0, 3)), 2 * np.ones((1, 3))]
    out = pad_sequences(rows, maxlen=2, dtype="float32", padding="post")
    assert out.shape == (3, 2, 3)
    np.testing.assert_array_equal(out[2, 0], [2, 2, 2])
    np.testing.assert_array_equal(out[1], 0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="padding"):
        pad_sequences(SEQUENCES, padding="middle")
    with pytest.raises(ValueError, match="maxlen"):
        pad_sequences(SEQUENCES, maxlen=-1)
