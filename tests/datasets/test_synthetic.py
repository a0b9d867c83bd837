"""Gaussian blobs: shapes, one-hot labels, reproducibility from the seed, the means."""

from __future__ import annotations

import numpy as np
import pytest

from deepdescent.datasets import gaussian_blobs


def test_blobs_are_reproducible_one_hot_points_around_their_means():
    x, y = gaussian_blobs(samples=4000, dimensions=3, classes=2, noise=0.1, seed=5)
    again, _ = gaussian_blobs(samples=4000, dimensions=3, classes=2, noise=0.1, seed=5)
    assert x.shape == (4000, 3) and y.shape == (4000, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(x, again)
    assert set(y.sum(1)) == {1.0}
    means = np.random.default_rng(5).normal(size=(2, 3))
    for k in range(2):
        points = x[y[:, k] == 1]
        np.testing.assert_allclose(points.mean(0), means[k], atol=0.02)
        np.testing.assert_allclose(points.std(0), 0.1, rtol=0.1)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="Invalid classes: 1"):
        gaussian_blobs(classes=1)
    with pytest.raises(ValueError, match="Invalid noise"):
        gaussian_blobs(noise=-1.0)
