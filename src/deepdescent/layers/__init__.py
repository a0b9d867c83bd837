"""Keras-style layers (``deepdescent.layers.Dense`` ...), each a ``torch.nn.Module``."""

from __future__ import annotations

from typing import Any, cast

from deepdescent.layers.auxiliary import AuxiliaryHead
from deepdescent.layers.base import Layer
from deepdescent.layers.core import Activation, Dense, Dropout, Flatten, Input, Reshape
from deepdescent.layers.normalization import BatchNormalization, LayerNormalization
from deepdescent.layers.residual import Residual
from deepdescent.utils._config import deserialize as _deserialize
from deepdescent.utils._config import serialize

__all__ = [
    "Activation",
    "AuxiliaryHead",
    "BatchNormalization",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "Layer",
    "LayerNormalization",
    "Reshape",
    "Residual",
    "deserialize",
    "serialize",
]

LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Activation,
        AuxiliaryHead,
        BatchNormalization,
        Dense,
        Dropout,
        Flatten,
        Input,
        LayerNormalization,
        Reshape,
        Residual,
    )
}


def deserialize(spec: dict[str, Any]) -> Layer:
    """Rebuild a layer from ``{"class_name", "config"}``; only known layer classes."""
    return cast(Layer, _deserialize("layer", spec, LAYERS))
