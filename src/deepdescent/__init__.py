"""deepdescent: optimization for training deep models, with a Keras-style front end on PyTorch.

``import deepdescent as keras`` gives the Keras namespaces (``keras.layers``,
``keras.models``, ``keras.optimizers``, ``keras.utils`` ...). Submodules are imported on
first use, so ``import deepdescent`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "activations",
    "autodiff",
    "callbacks",
    "cli",
    "datasets",
    "diagnostics",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "schedules",
    "strategies",
    "training",
    "utils",
)

__all__ = [*_SUBMODULES, "Input", "Model", "Sequential", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"deepdescent.{name}")
    if name in ("Model", "Sequential"):
        return getattr(importlib.import_module("deepdescent.models"), name)
    if name == "Input":
        return importlib.import_module("deepdescent.layers").Input
    raise AttributeError(f"module 'deepdescent' has no attribute {name!r}")
