"""Small synthetic classification data, made on the spot from a seed (no files): for
demonstrations and tests that must run anywhere."""

from __future__ import annotations

import numpy as np

from deepdescent.utils._checks import check_count, check_non_negative

__all__ = ["gaussian_blobs"]


def gaussian_blobs(
    samples: int = 1000,
    dimensions: int = 20,
    classes: int = 4,
    noise: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Points around ``classes`` means drawn from N(0, I), with N(0, noise² I) noise.

    Returns:
        x: float32 inputs of shape (samples, dimensions).
        y: float32 one-hot labels of shape (samples, classes).
    """
    check_count("samples", samples)
    check_count("dimensions", dimensions)
    check_count("classes", classes, minimum=2)
    check_non_negative("noise", noise)
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(classes, dimensions))
    labels = rng.integers(0, classes, samples)
    x = means[labels] + noise * rng.normal(size=(samples, dimensions))
    return x.astype("float32"), np.eye(classes, dtype="float32")[labels]
