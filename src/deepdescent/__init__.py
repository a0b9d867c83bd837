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
    "config",
    "datasets",
    "diagnostics",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "ops",
    "optimizers",
    "preprocessing",
    "random",
    "regularizers",
    "schedules",
    "strategies",
    "training",
    "utils",
    "variables",
)

# Keras 3's top-level names, and the module each comes from.
_NAMES = {
    "Input": "layers",
    "Layer": "layers",
    "Model": "models",
    "Sequential": "models",
    "Variable": "variables",
    "Loss": "losses",
    "Metric": "metrics",
    "Optimizer": "optimizers",
    "Initializer": "initializers",
    "Regularizer": "regularizers",
}

__all__ = [*_SUBMODULES, *_NAMES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"deepdescent.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"deepdescent.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'deepdescent' has no attribute {name!r}")
