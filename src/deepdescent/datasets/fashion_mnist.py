"""Fashion-MNIST: 70,000 Zalando article images, 28x28 grayscale, 10 classes (Xiao,
Rasul & Vollgraf, 2017), a drop-in replacement for MNIST.

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
7 Sneaker, 8 Bag, 9 Ankle boot. The download comes from Zalando's own site; the SHA-256
digests are those of the published ``.gz`` files (26,421,880, 29,515, 4,422,102 and
5,148 bytes). Debian's ``dataset-fashion-mnist`` holds the same data recompressed.
"""

from __future__ import annotations

import os

import numpy as np

from deepdescent.datasets.files import IdxDataset, load_idx_dataset

__all__ = ["CLASS_NAMES", "SPEC", "load_data"]

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

SPEC = IdxDataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    sha256={
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
        ),
    },
    debian_package="dataset-fashion-mnist",
)


def load_data(
    path: str | os.PathLike[str] | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST as Keras does: ``(x_train, y_train), (x_test, y_test)``.

    ``x_train`` is uint8 ``(60000, 28, 28)``, ``y_train`` uint8 ``(60000,)``, and the test
    arrays ``(10000, 28, 28)`` and ``(10000,)``. The files are looked for in ``path`` (a
    folder) when given, else in ``$DEEPDESCENT_DATA/fashion-mnist``,
    ``/usr/share/datasets/fashion-mnist`` (Debian's package), and last downloaded (see
    ``deepdescent.datasets.files``).
    """
    return load_idx_dataset(SPEC, path)
