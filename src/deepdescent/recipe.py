"""The lecture's recipe, in the pieces every command builds it from.

``deepdescent train`` runs it, ``deepdescent diagnose`` replays it, and comparisons start
from it: a dataset in MNIST's IDX format flattened to vectors (scaled to [0, 1] unless raw
pixels are asked for) with one-hot labels, a stack of ``Dense`` hidden layers and a softmax
output, and an optimizer of the catalogue by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers import Optimizer, catalogue
from deepdescent.utils import to_categorical

__all__ = [
    "DATASETS",
    "DEFAULTS",
    "build_model",
    "load_dataset",
    "make_optimizer",
    "resolve_device",
]

DATASETS = ("fashion_mnist", "mnist")
#: The recipe ``deepdescent train`` runs with no arguments: the lecture's 784-32-10 network
#: (sigmoid hidden layer, softmax output), categorical cross-entropy, SGD (Keras's lr 0.01),
#: batch 128, 10 epochs, a 10% validation split, on Fashion-MNIST scaled to [0, 1].
DEFAULTS: dict[str, Any] = {
    "dataset": "fashion_mnist",
    "data_dir": None,
    "optimizer": "sgd",
    "lr": None,
    "optimizer_args": {},
    "epochs": 10,
    "batch_size": 128,
    "hidden": [32],
    "activation": "sigmoid",
    "validation_split": 0.1,
    "raw_pixels": False,
    "limit": None,
    "seed": 0,
    "device": "auto",
}
Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_dataset(
    dataset: str, data_dir: str | None = None, raw_pixels: bool = False, limit: int | None = None
) -> Arrays:
    """``((x_train, y_train), (x_test, y_test))``: float32 vectors and one-hot labels;
    ``limit`` keeps the first training samples only."""
    if dataset not in DATASETS:
        raise ValueError(f"Invalid dataset: {dataset!r} (expected one of {', '.join(DATASETS)})")
    module = importlib.import_module(f"deepdescent.datasets.{dataset}")
    (x_train, y_train), (x_test, y_test) = module.load_data(path=data_dir)
    scale = 1.0 if raw_pixels else 255.0
    x_train = x_train.reshape(len(x_train), -1).astype("float32") / scale
    x_test = x_test.reshape(len(x_test), -1).astype("float32") / scale
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    return (x_train, to_categorical(y_train, 10)), (x_test, to_categorical(y_test, 10))


def build_model(
    input_dim: int, hidden: Sequence[int] = (32,), activation: str = "sigmoid", name: str = "mlp"
) -> Sequential:
    """The lecture's network: ``Dense`` hidden layers of ``hidden`` units, then a softmax
    over 10 classes (initialized from torch's global generator)."""
    model = Sequential(name=name)
    for index, units in enumerate(hidden):
        shape: dict[str, Any] = {"input_shape": (input_dim,)} if index == 0 else {}
        model.add(Dense(units, activation=activation, **shape))
    model.add(Dense(10, activation="softmax"))
    return model


def make_optimizer(
    name: str, lr: float | None = None, options: dict[str, Any] | None = None
) -> Optimizer:
    """The catalogue's optimizer ``name`` (unbound), with ``options`` and ``lr``."""
    entry = catalogue.info(name)
    try:
        return entry.build(None, **(options or {}), **({} if lr is None else {"lr": lr}))
    except TypeError as error:
        raise ValueError(f"the options do not fit {entry.cls.__name__}: {error}") from None


def resolve_device(name: str) -> torch.device:
    """``"auto"`` (CUDA when available), or a torch device name that must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Invalid device: {name!r} (no CUDA device is available)")
    return device
