"""MNIST: 70,000 handwritten digits, 28x28 grayscale, labels 0-9 (LeCun, Cortes & Burges).

The download comes from the mirror torchvision uses; the SHA-256 digests are those of the
published ``.gz`` files (9,912,422, 28,881, 1,648,877 and 4,542 bytes).
"""

from __future__ import annotations

import os

import numpy as np

from deepdescent.datasets.files import IdxDataset, load_idx_dataset

__all__ = ["SPEC", "load_data"]

SPEC = IdxDataset(
    name="mnist",
    title="MNIST",
    base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
    sha256={
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    },
)


def load_data(
    path: str | os.PathLike[str] | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST as Keras does: ``(x_train, y_train), (x_test, y_test)``.

    ``x_train`` is uint8 ``(60000, 28, 28)``, ``y_train`` uint8 ``(60000,)``, and the test
    arrays ``(10000, 28, 28)`` and ``(10000,)``. The files are looked for in ``path`` (a
    folder) when given, else in ``$DEEPDESCENT_DATA/mnist``, ``/usr/share/datasets/mnist``,
    and last downloaded (see ``deepdescent.datasets.files``).
    """
    return load_idx_dataset(SPEC, path)
