"""Data sets in Keras's shape: ``load_data()`` returns ``(x_train, y_train), (x_test, y_test)``.

``from deepdescent.datasets import fashion_mnist as mnist; mnist.load_data()`` works as
the Keras line does. The IDX reader and writer and the cached, hash-checked ``get_file``
are here too, and :func:`gaussian_blobs`, synthetic data made from a seed.
"""

from __future__ import annotations

from deepdescent.datasets import cifar10, corpus, fashion_mnist, imdb, mnist
from deepdescent.datasets.files import get_file
from deepdescent.datasets.idx import DatasetError, read_idx, write_idx
from deepdescent.datasets.synthetic import gaussian_blobs

__all__ = [
    "DatasetError",
    "cifar10",
    "corpus",
    "fashion_mnist",
    "gaussian_blobs",
    "get_file",
    "imdb",
    "mnist",
    "read_idx",
    "write_idx",
]
