"""Small helpers users reach as ``deepdescent.utils`` (Keras's ``keras.utils``)."""

from __future__ import annotations

import random

import numpy as np
import torch

from deepdescent.utils._config import deserialize, serialize
from deepdescent.utils._lookup import lookup
from deepdescent.utils.images import (
    array_to_img,
    image_dataset_from_directory,
    img_to_array,
    load_img,
    save_img,
)
from deepdescent.utils.model_plot import plot_model
from deepdescent.utils.py_dataset import PyDataset
from deepdescent.utils.sequences import pad_sequences

__all__ = [
    "PyDataset",
    "array_to_img",
    "deserialize",
    "image_dataset_from_directory",
    "img_to_array",
    "load_img",
    "lookup",
    "normalize",
    "pad_sequences",
    "plot_model",
    "save_img",
    "serialize",
    "set_random_seed",
    "to_categorical",
]


def to_categorical(y: object, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """One-hot encode integer class labels: row ``i`` is 1 at column ``y[i]``, 0 elsewhere.

    A trailing axis of length 1 is dropped first (``(n, 1)`` labels become ``(n, num_classes)``),
    as in Keras. ``num_classes`` defaults to ``max(y) + 1``.
    """
    labels = np.asarray(y)
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError("y must hold integer class labels; found non-integer values")
        labels = labels.astype(np.int64)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.size and labels.min() < 0:
        raise ValueError(f"y must hold labels >= 0, found {labels.min()}")
    largest = int(labels.max()) + 1 if labels.size else 0
    if num_classes is None:
        num_classes = largest
    elif num_classes < largest:
        raise ValueError(f"num_classes={num_classes} is too small for label {largest - 1} in y")
    one_hot = np.zeros((*labels.shape, num_classes), dtype=dtype)
    np.put_along_axis(one_hot, labels[..., None].astype(np.int64), 1, axis=-1)
    return one_hot


def normalize(x: object, axis: int = -1, order: int = 2) -> np.ndarray:
    """Scale ``x`` to unit ``order``-norm along ``axis`` (zero vectors are left at zero)."""
    array = np.asarray(x, dtype=np.float64 if np.asarray(x).dtype == np.float64 else np.float32)
    norms = np.linalg.norm(array, ord=order, axis=axis, keepdims=True)
    return array / np.where(norms == 0, 1, norms)


def set_random_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (all devices), like Keras's helper."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
