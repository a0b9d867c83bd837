"""Fixtures shared by the tests of several packages."""

from __future__ import annotations

import numpy as np
import pytest

from deepdescent.datasets import write_idx


@pytest.fixture
def tiny_fashion(tmp_path):
    """A 300-sample IDX data set whose classes differ by brightness of a stripe."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "idx"

    def split(n, prefix):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, label * 2 : label * 2 + 3, :] = 250
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)

    split(300, "train")
    split(100, "t10k")
    return folder
