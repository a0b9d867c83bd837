"""CIFAR-10: 60,000 colour images of 32x32 pixels in 10 classes (Krizhevsky, 2009).

Labels: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship,
9 truck. The archive is the published ``cifar-10-python.tar.gz`` (its SHA-256 is the one
Keras checks); its batches are pickles, read with a loader that runs no code
(:mod:`deepdescent.datasets.pickled`), straight from the archive.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np

from deepdescent import config
from deepdescent.datasets.files import locate_file
from deepdescent.datasets.idx import DatasetError
from deepdescent.datasets.pickled import load_restricted

__all__ = ["CLASS_NAMES", "FILE_NAME", "ORIGIN", "SHA256", "load_data"]

CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FILE_NAME = "cifar-10-python.tar.gz"
ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST = ("test_batch",)


def _batch(stream: object, name: str) -> tuple[np.ndarray, np.ndarray]:
    entry = load_restricted(stream, encoding="bytes")  # type: ignore[arg-type]
    try:
        data = np.asarray(entry[b"data"], dtype=np.uint8)
        labels = np.asarray(entry[b"labels"], dtype=np.uint8)
    except (KeyError, TypeError) as error:
        raise DatasetError(f"CIFAR-10 batch {name} lacks data or labels") from error
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DatasetError(
            f"CIFAR-10 batch {name}: expected data of shape (n, 3072) and n labels, found "
            f"{data.shape} and {labels.shape}"
        )
    return data.reshape(-1, 3, 32, 32), labels


def _read(source: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    parts = []
    if source.is_dir():
        for name in names:
            with (source / name).open("rb") as stream:
                parts.append(_batch(stream, name))
    else:
        try:
            with tarfile.open(source, "r:*") as archive:
                members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
                for name in names:
                    if name not in members:
                        raise DatasetError(f"{source} lacks the CIFAR-10 batch {name}")
                    parts.append(_batch(archive.extractfile(members[name]), name))
        except tarfile.TarError as error:
            raise DatasetError(f"{source} is not a readable tar archive: {error}") from error
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def load_data(
    path: str | os.PathLike[str] | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load CIFAR-10 as Keras does: ``(x_train, y_train), (x_test, y_test)``.

    ``x_train`` is uint8 ``(50000, 32, 32, 3)`` (``(50000, 3, 32, 32)`` when
    ``config.image_data_format()`` is ``"channels_first"``), ``y_train`` uint8
    ``(50000, 1)``; the test arrays hold 10,000. The archive (or a folder with its
    extracted batches) is looked for at ``path`` when given, else in
    ``$DEEPDESCENT_DATA/cifar10``, ``/usr/share/datasets/cifar10``, and last downloaded
    with its SHA-256 checked.
    """
    given = Path(path).expanduser() if path is not None else None
    if given is not None and given.is_dir() and (given / _TRAIN[0]).is_file():
        source = given
    else:
        source = locate_file("cifar10", "CIFAR-10", FILE_NAME, ORIGIN, SHA256, path)
    (x_train, y_train), (x_test, y_test) = _read(source, _TRAIN), _read(source, _TEST)
    if config.image_data_format() == "channels_last":
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train.reshape(-1, 1)), (x_test, y_test.reshape(-1, 1))
