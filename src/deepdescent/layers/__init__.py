"""Keras-style layers (``deepdescent.layers.Dense`` ...), each a ``torch.nn.Module``.

One module per family, as Keras: ``core`` (Dense, Activation, Dropout, Embedding),
``convolutional``, ``pooling``, ``reshaping``, ``recurrent``, ``wrappers``, ``merging``,
``activations`` (activation functions as layers), ``input_layer`` and ``symbolic`` (the
functional API's inputs and graph nodes). :data:`LAYERS` names every class a saved config
may hold; :func:`deserialize` builds only those.
"""

from __future__ import annotations

from typing import Any

from deepdescent.layers.activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from deepdescent.layers.auxiliary import AuxiliaryHead
from deepdescent.layers.base import Layer
from deepdescent.layers.convolutional import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    DepthwiseConv2D,
    SeparableConv2D,
)
from deepdescent.layers.core import Activation, Dense, Dropout, Embedding
from deepdescent.layers.image_preprocessing import (
    CenterCrop,
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
)
from deepdescent.layers.input_layer import Input, InputLayer
from deepdescent.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from deepdescent.layers.normalization import BatchNormalization, LayerNormalization
from deepdescent.layers.operation import TensorOperation
from deepdescent.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from deepdescent.layers.recurrent import GRU, LSTM, SimpleRNN
from deepdescent.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Flatten,
    Permute,
    RepeatVector,
    Reshape,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from deepdescent.layers.residual import Residual
from deepdescent.layers.symbolic import SymbolicTensor
from deepdescent.layers.text_vectorization import TextVectorization
from deepdescent.layers.wrappers import Bidirectional, TimeDistributed
from deepdescent.utils._config import serialize
from deepdescent.utils._lookup import lookup

__all__ = [
    "ELU",
    "GRU",
    "LAYERS",
    "LSTM",
    "Activation",
    "Add",
    "AuxiliaryHead",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "BatchNormalization",
    "Bidirectional",
    "CenterCrop",
    "Concatenate",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Cropping1D",
    "Cropping2D",
    "Dense",
    "DepthwiseConv2D",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "Input",
    "InputLayer",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Maximum",
    "Minimum",
    "Multiply",
    "PReLU",
    "Permute",
    "RandomContrast",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "Residual",
    "Resizing",
    "SeparableConv2D",
    "SimpleRNN",
    "Softmax",
    "Subtract",
    "SymbolicTensor",
    "TensorOperation",
    "TextVectorization",
    "TimeDistributed",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "add",
    "average",
    "concatenate",
    "deserialize",
    "dot",
    "maximum",
    "minimum",
    "multiply",
    "register_layer",
    "serialize",
    "subtract",
]

LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Activation,
        Add,
        AuxiliaryHead,
        Average,
        AveragePooling1D,
        AveragePooling2D,
        AveragePooling3D,
        BatchNormalization,
        Bidirectional,
        CenterCrop,
        Concatenate,
        Conv1D,
        Conv1DTranspose,
        Conv2D,
        Conv2DTranspose,
        Conv3D,
        Cropping1D,
        Cropping2D,
        Dense,
        DepthwiseConv2D,
        Dot,
        Dropout,
        ELU,
        Embedding,
        Flatten,
        GRU,
        GlobalAveragePooling1D,
        GlobalAveragePooling2D,
        GlobalAveragePooling3D,
        GlobalMaxPooling1D,
        GlobalMaxPooling2D,
        GlobalMaxPooling3D,
        InputLayer,
        LSTM,
        LayerNormalization,
        LeakyReLU,
        MaxPooling1D,
        MaxPooling2D,
        MaxPooling3D,
        Maximum,
        Minimum,
        Multiply,
        PReLU,
        Permute,
        RandomContrast,
        RandomFlip,
        RandomRotation,
        RandomTranslation,
        RandomZoom,
        ReLU,
        RepeatVector,
        Rescaling,
        Reshape,
        Residual,
        Resizing,
        SeparableConv2D,
        SimpleRNN,
        Softmax,
        Subtract,
        TensorOperation,
        TextVectorization,
        TimeDistributed,
        UpSampling1D,
        UpSampling2D,
        ZeroPadding1D,
        ZeroPadding2D,
    )
}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Add a layer class to :data:`LAYERS`, so saved models holding it can be loaded
    (the class's code must be imported before loading: a file never carries code).
    Usable as a decorator."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer needs a Layer subclass, got {cls!r}")
    LAYERS[cls.__name__] = cls
    return cls


def deserialize(spec: dict[str, Any]) -> Layer:
    """Rebuild a layer from ``{"class_name", "config"}``; only classes of :data:`LAYERS`."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"layer config must be a dict with 'class_name', got {spec!r}")
    cls = lookup("layer", spec["class_name"], LAYERS)
    return cls.from_config(dict(spec.get("config") or {}))
