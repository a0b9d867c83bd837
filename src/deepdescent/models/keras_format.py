"""Keras 3's ``.keras`` files, read and written for the layers both libraries have.

A ``.keras`` file is a zip of ``config.json`` (the model's architecture as Keras
serializes it), ``metadata.json`` and ``model.weights.h5`` (each layer's variables under
``layers/<name>/vars/<i>``, the names made from the layers' classes in model order:
``dense``, ``dense_1`` ...; a recurrent layer's under ``layers/<name>/cell/vars``).
:func:`load_keras` rebuilds a ``Sequential`` or functional model from such a file, made
by Keras or here, and :func:`save_keras` writes one that Keras 3 loads. Weights change
layout where the libraries differ (convolution kernels are ``(*kernel_size, in, out)`` in
Keras, ``(out, in, *kernel_size)`` here; a wrapper's layers have groups of their own).
Reading runs no code: the classes come from :data:`KERAS_LAYERS`, the tensors from HDF5
datasets (``pip install h5py``). Not kept: the initializers (the file's weights replace
them). The compile settings are Keras's ``compile_config`` (read and written by
:mod:`deepdescent.models.keras_compile`); a file written here also keeps this library's
own, and the optimizer's state, in members of its own that Keras does not read (and that
take precedence when read here). A file that uses what this library lacks (constraints,
activity regularizers, other layers, settings such as ``renorm``) is refused, naming it.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from deepdescent import layers as layers_lib
from deepdescent import ops, regularizers
from deepdescent.layers import InputLayer, Layer, SymbolicTensor, TensorOperation
from deepdescent.layers.symbolic import flatten
from deepdescent.models.keras_compile import (
    TrainedWeight,
    compile_from_keras,
    keras_compile_config,
    keras_optimizer_state,
    restore_keras_state,
)
from deepdescent.models.saving import optimizer_members, restore_compiled
from deepdescent.utils._checks import snake_case
from deepdescent.utils.io import atomic_write_bytes

__all__ = ["KERAS_LAYERS", "KerasFileError", "load_keras", "save_keras"]

_CONFIG, _METADATA, _WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
# This library's own members: the compile settings and optimizer state Keras's
# compile_config cannot express (the optimizers' arguments differ).
_OURS, _COMPILE = "deepdescent/", "compile.json"
_DTYPE = {
    "module": "keras",
    "class_name": "DTypePolicy",
    "config": {"name": "float32"},
    "registered_name": None,
}


class KerasFileError(ValueError):
    """A ``.keras`` file this library cannot read (or a model it cannot write as one)."""


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as error:
        raise ImportError(
            "Reading and writing .keras files needs h5py: pip install h5py "
            "(or pip install deepdescent[keras])"
        ) from error
    return h5py


# -- weights: Keras's layout ↔ this library's ----------------------------------------


def _conv_out(kernel: torch.Tensor) -> np.ndarray:
    """(out, in, *k) → (*k, in, out); also (in, out, *k) → (*k, out, in) for transposes."""
    rank = kernel.ndim - 2
    return kernel.detach().cpu().permute(*range(2, 2 + rank), 1, 0).numpy()


def _conv_in(kernel: np.ndarray) -> np.ndarray:
    rank = kernel.ndim - 2
    return np.ascontiguousarray(np.transpose(kernel, (rank + 1, rank, *range(rank))))


Conversion = tuple[str, Callable[[torch.Tensor], np.ndarray], Callable[[np.ndarray], np.ndarray]]


def _depthwise_out(kernel: torch.Tensor, multiplier: int) -> np.ndarray:
    """(c·m, 1, kh, kw) → Keras's (kh, kw, c, m)."""
    grouped = (
        kernel.detach().cpu().reshape(kernel.shape[0] // multiplier, multiplier, *kernel.shape[2:])
    )
    return grouped.permute(2, 3, 0, 1).numpy()


def _depthwise_in(kernel: np.ndarray) -> np.ndarray:
    """Keras's (kh, kw, c, m) → (c·m, 1, kh, kw)."""
    kh, kw, channels, multiplier = kernel.shape
    grouped = np.transpose(kernel, (2, 3, 0, 1))
    return np.ascontiguousarray(grouped.reshape(channels * multiplier, 1, kh, kw))


def _weights_of(layer: Layer) -> list[Conversion]:
    """The layer's own variables in Keras's order: (attribute, ours → Keras, Keras → ours)."""
    same: tuple[Callable[[torch.Tensor], np.ndarray], Callable[[np.ndarray], np.ndarray]] = (
        lambda t: t.detach().cpu().numpy(),
        lambda a: a,
    )
    conv = (_conv_out, _conv_in)
    entries: list[Conversion]
    if isinstance(layer, layers_lib.DepthwiseConv2D):
        multiplier = layer.depth_multiplier
        depthwise = ("kernel", lambda t: _depthwise_out(t, multiplier), _depthwise_in)
        separable = isinstance(layer, layers_lib.SeparableConv2D)
        entries = [depthwise, ("pointwise_kernel", *conv)] if separable else [depthwise]
    elif isinstance(
        layer,
        (
            layers_lib.Conv1D,
            layers_lib.Conv2D,
            layers_lib.Conv3D,
            layers_lib.Conv1DTranspose,
            layers_lib.Conv2DTranspose,
        ),
    ):
        entries = [("kernel", *conv)]
    elif isinstance(layer, _RECURRENT):
        entries = [("kernel", *same), ("recurrent_kernel", *same)]
    elif isinstance(layer, layers_lib.Embedding):
        entries = [("embeddings", *same)]
    elif isinstance(layer, layers_lib.PReLU):
        entries = [("alpha", *same)]
    elif isinstance(layer, (layers_lib.BatchNormalization, layers_lib.LayerNormalization)):
        # γ and β where the layer has them, then batch normalization's moving averages.
        affine = [(name, *same) for name in ("gamma", "beta") if getattr(layer, name) is not None]
        moving = [("moving_mean", *same), ("moving_variance", *same)]
        batch = isinstance(layer, layers_lib.BatchNormalization)
        entries = affine + moving if batch else affine
    else:
        entries = [("kernel", *same)] if hasattr(layer, "kernel") else []
    if getattr(layer, "bias", None) is not None:
        entries.append(("bias", *same))
    return entries


_RECURRENT = (layers_lib.SimpleRNN, layers_lib.LSTM, layers_lib.GRU)
WeightGroups = dict[str, tuple[Layer, list[Conversion]]]


def _weight_groups(layer: Layer) -> WeightGroups:
    """The layer's groups in the weights file, each with the layer whose variables it
    holds: ``vars``; a recurrent layer's under ``cell/vars``; a wrapper's the wrapped
    layers' under ``forward_layer/`` and ``backward_layer/`` (``Bidirectional``) or
    ``layer/`` (``TimeDistributed``)."""
    if isinstance(layer, layers_lib.Bidirectional):
        return {
            "vars": (layer, []),
            **_nested("forward_layer", layer.forward_layer),
            **_nested("backward_layer", layer.backward_layer),
        }
    if isinstance(layer, layers_lib.TimeDistributed):
        return {"vars": (layer, []), **_nested("layer", layer.layer)}
    if isinstance(layer, _RECURRENT):
        return {"vars": (layer, []), "cell/vars": (layer, _weights_of(layer))}
    return {"vars": (layer, _weights_of(layer))}


def _nested(prefix: str, layer: Layer) -> WeightGroups:
    return {f"{prefix}/{path}": group for path, group in _weight_groups(layer).items()}


# -- configs: Keras's ↔ this library's -------------------------------------------------

#: Keras class names this module reads and writes (Keras's ops as graph operations too).
KERAS_LAYERS = (
    "Activation",
    "Add",
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
    "ELU",
    "Embedding",
    "Flatten",
    "GRU",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "InputLayer",
    "LSTM",
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
    "Resizing",
    "SeparableConv2D",
    "SimpleRNN",
    "Softmax",
    "Subtract",
    "TimeDistributed",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
)
# Keras's config entries this library has no use for once the weights are loaded.
_DROPPED = {
    "dtype",
    "seed",
    "zero_output_for_mask",
    "sparse",
    "ragged",
    "optional",
    "lora_rank",
    "lora_alpha",
    "use_cudnn",
    "noise_shape",
    "input_length",
    "quantization_config",
}
_MUST_BE_EMPTY = ("_constraint", "activity_regularizer")
# Keras's arguments that deepdescent's layer lacks, per class: the value it must have
# (what deepdescent computes), or None for one with no effect here.
_KERAS_ONLY: dict[str, dict[str, Any]] = {
    "BatchNormalization": {
        "synchronized": None,
        "renorm": False,
        "renorm_clipping": None,
        "renorm_momentum": None,
    },
    "LayerNormalization": {"rms_scaling": False},
    "Resizing": {
        "pad_to_aspect_ratio": False,
        "antialias": False,
        "fill_mode": None,
        "fill_value": None,
    },
}
# Layers both libraries have that a .keras file cannot carry between them, and why.
_UNMAPPED = {
    "TextVectorization": (
        "it runs on strings, which a deepdescent model does not take as inputs (Keras "
        "keeps its vocabulary as an asset of the model); apply it before the model: "
        "model.fit(vectorizer(texts), y)"
    ),
}
# Wrappers' arguments that are layers themselves (Keras entries in the file).
_WRAPPED = ("layer", "backward_layer")


def _from_keras_config(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Keras's layer config as this library's constructor arguments."""
    ours: dict[str, Any] = {}
    keras_only = _KERAS_ONLY.get(class_name, {})
    for key, value in config.items():
        if key in keras_only:
            required = keras_only[key]
            if required is not None and value != required:
                raise KerasFileError(
                    f"{class_name} with {key}={value!r}: deepdescent's {class_name} "
                    f"computes only {key}={required!r}"
                )
            continue
        if key == "seed" and class_name.startswith("Random"):
            ours[key] = value
            continue
        if key in _DROPPED or key.endswith("_initializer"):
            continue
        if key in _WRAPPED and isinstance(value, dict):
            ours[key] = _layer_from_entry(value)
            continue
        if key.endswith(_MUST_BE_EMPTY):
            if value is not None:
                raise KerasFileError(f"{class_name} uses {key}, which deepdescent lacks")
            continue
        if key.endswith("_regularizer"):
            ours[key] = (
                None
                if value is None
                else regularizers.deserialize(
                    {"class_name": value["class_name"], "config": value.get("config") or {}}
                )
            )
            continue
        if key == "data_format" and class_name == "Flatten":
            if value not in (None, "channels_last"):
                raise KerasFileError("Flatten with data_format='channels_first' is not read")
            continue
        if key == "stateful" and value:
            raise KerasFileError(f"{class_name} is stateful, which deepdescent lacks")
        if key == "stateful":
            continue
        ours[key] = value
    return ours


def _to_keras_config(layer: Layer) -> dict[str, Any]:
    config = dict(layer.get_config())
    config["trainable"] = layer.trainable
    config["dtype"] = _DTYPE
    if isinstance(layer, layers_lib.Bidirectional):
        config["layer"] = _keras_entry(layer.forward_layer)
        config["backward_layer"] = _keras_entry(layer.backward_layer)
    elif isinstance(layer, layers_lib.TimeDistributed):
        config["layer"] = _keras_entry(layer.layer)
    elif isinstance(layer, (layers_lib.Cropping1D, layers_lib.ZeroPadding1D)):
        # Keras's 1-D amounts are one (before, after) pair, not a list of them.
        key = "cropping" if isinstance(layer, layers_lib.Cropping1D) else "padding"
        config[key] = list(config[key][0])
    for key, value in list(config.items()):
        if key.endswith("_initializer") and isinstance(value, dict):
            config[key] = {
                "module": "keras.initializers",
                "class_name": value["class_name"],
                "config": {},
                "registered_name": None,
            }
        elif key.endswith("_regularizer") and isinstance(value, dict):
            config[key] = {"module": "keras.regularizers", **value, "registered_name": None}
    return config


def _writable_class(layer: Layer) -> str:
    """The layer's class name, when a .keras file can hold it."""
    name = type(layer).__name__
    if name in _UNMAPPED:
        raise KerasFileError(f"{name} cannot be written to a .keras file: {_UNMAPPED[name]}")
    if name not in KERAS_LAYERS:
        raise KerasFileError(
            f"{name} cannot be written to a .keras file (the layers that can: "
            f"{', '.join(KERAS_LAYERS)}); save to a .deepdescent file instead"
        )
    return name


def _keras_entry(layer: Layer) -> dict[str, Any]:
    if isinstance(layer, InputLayer):
        return {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {
                "batch_shape": list(layer.shape),
                "dtype": str(layer.input_dtype).removeprefix("torch."),
                "sparse": False,
                "ragged": False,
                "name": layer.name,
                "optional": False,
            },
            "registered_name": None,
        }
    if isinstance(layer, TensorOperation):
        if layer.operation not in ("add", "subtract", "multiply", "divide"):
            raise KerasFileError(
                f"the operation {layer.operation!r} cannot be written to a .keras file"
            )
        return {
            "module": "keras.src.ops.numpy",
            "class_name": layer.operation.capitalize(),
            "config": {"name": layer.name},
            "registered_name": None,
        }
    name = _writable_class(layer)
    return {
        "module": "keras.layers",
        "class_name": name,
        "config": _to_keras_config(layer),
        "registered_name": None,
    }


def _layer_from_entry(entry: dict[str, Any]) -> Layer:
    class_name, config = entry["class_name"], dict(entry.get("config") or {})
    if entry.get("module", "").startswith("keras.src.ops"):
        operation = snake_case(class_name)
        if operation not in ops.OPERATIONS or set(config) - {"name"}:
            raise KerasFileError(f"the Keras operation {class_name} is not read")
        return TensorOperation(operation, name=config.get("name"))
    if class_name in _UNMAPPED:
        raise KerasFileError(
            f"the file holds a {class_name} layer, which deepdescent does not read from "
            f".keras files: {_UNMAPPED[class_name]}"
        )
    if class_name not in KERAS_LAYERS:
        raise KerasFileError(
            f"the file holds a {class_name} layer, which deepdescent does not read from "
            f".keras files (it reads: {', '.join(KERAS_LAYERS)})"
        )
    if class_name == "InputLayer":
        shape = config.get("batch_shape") or [None, *config["shape"]]
        return InputLayer(
            shape=tuple(shape[1:]), dtype=config.get("dtype"), name=config.get("name")
        )
    return layers_lib.deserialize(
        {"class_name": class_name, "config": _from_keras_config(class_name, config)}
    )


# -- the graph ---------------------------------------------------------------------------


def _tensor_entry(tensor: SymbolicTensor, index_of: dict[int, int]) -> dict[str, Any]:
    node = tensor.node
    assert node is not None
    return {
        "class_name": "__keras_tensor__",
        "config": {
            "shape": list(tensor.shape),
            "dtype": tensor.dtype,
            "keras_history": [node.layer.name, index_of[id(node)], tensor.index],
        },
    }


def _encode_args(value: Any, index_of: dict[int, int]) -> Any:
    if isinstance(value, SymbolicTensor):
        return _tensor_entry(value, index_of)
    if isinstance(value, (list, tuple)):
        return [_encode_args(v, index_of) for v in value]
    if isinstance(value, dict):
        return {k: _encode_args(v, index_of) for k, v in value.items()}
    return value


def _keras_layer_order(graph: Any) -> list[Layer]:
    """A functional model's layers in the order Keras 3 gives them (its ``map_graph``),
    which names their groups in the weights file and orders its optimizer's variables:
    by decreasing depth (the longest path on to an output), ties in the order a
    depth-first walk back from the outputs first meets them."""
    met: dict[int, int] = {}
    finished: set[int] = set()
    walked: list[Any] = []

    def walk(tensor: SymbolicTensor) -> None:
        node = tensor.node
        assert node is not None  # a graph's tensors are made by its calls
        if id(node) in finished:
            return
        met.setdefault(id(node.layer), len(met))
        for parent in node.inputs:
            walk(parent)
        finished.add(id(node))
        walked.append(node)

    for output in graph.flat_outputs:
        walk(output)
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    for node in reversed(walked):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        for parent in node.inputs:
            key = id(parent.node)
            node_depth[key] = max(depth + 1, node_depth.get(key, 0))
    layers = list({id(node.layer): node.layer for node in walked}.values())
    return sorted(layers, key=lambda layer: (-layer_depth[id(layer)], met[id(layer)]))


def _functional_config(model: Any) -> dict[str, Any]:
    graph = model.graph
    index_of: dict[int, int] = {}
    for layer in graph.layers:
        for position, node in enumerate(n for n in graph.nodes if n.layer is layer):
            index_of[id(node)] = position
    entries = []
    for layer in _keras_layer_order(graph):
        entry = _keras_entry(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            {
                "args": _encode_args(list(node.args), index_of),
                "kwargs": _encode_args(node.kwargs, index_of),
            }
            for node in graph.nodes
            if node.layer is layer and not isinstance(layer, InputLayer)
        ]
        entries.append(entry)

    def history(tensors: list[SymbolicTensor]) -> Any:
        found = [_tensor_entry(t, index_of)["config"]["keras_history"] for t in tensors]
        return found[0] if len(found) == 1 else found

    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": entries,
        "input_layers": history(graph.flat_inputs),
        "output_layers": history(graph.flat_outputs),
    }


def _sequential_config(model: Any) -> dict[str, Any]:
    for layer in model.layers:
        _writable_class(layer)
    if model.input_shape is None:
        raise KerasFileError("The Sequential model has no input shape yet: build it first")
    entries = [_keras_entry(InputLayer(shape=model.input_shape[1:], name="input_layer"))]
    shape = model.input_shape
    for layer in model.layers:
        entry = _keras_entry(layer)
        entry["build_config"] = {"input_shape": list(shape)}
        shape = layer.compute_output_shape(shape)
        entries.append(entry)
    return {"name": model.name, "trainable": model.trainable, "dtype": _DTYPE, "layers": entries}


def _keras_layers(model: Any, config: dict[str, Any] | None = None) -> list[Layer]:
    """The layers in Keras's model order (a Sequential's without its input layer): a
    functional model's as ``config`` (the file's) lists them, or as Keras orders them."""
    if model.graph is None:
        return list(model.layers)
    if config is None:
        return _keras_layer_order(model.graph)
    named = {layer.name: layer for layer in model.graph.layers}
    return [named[entry["name"]] for entry in config["layers"]]


def _group_names(layers: list[Layer]) -> list[str]:
    """Keras's names of the layers' groups in the weights file: the class in snake case,
    then ``_1``, ``_2`` ... for repeats (operations have no group)."""
    used: dict[str, int] = {}
    names = []
    for layer in layers:
        base = snake_case(type(layer).__name__)
        if base in used:
            used[base] += 1
            names.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            names.append(base)
    return names


# -- files ------------------------------------------------------------------------------


def _write_weights(store: Any, layers: list[Layer]) -> None:
    for layer, name in zip(layers, _group_names(layers), strict=True):
        if isinstance(layer, TensorOperation):
            continue
        for path, (owner, entries) in _weight_groups(layer).items():
            group = store.create_group(f"layers/{name}/{path}")
            for index, (attribute, out, _) in enumerate(entries):
                group.create_dataset(str(index), data=out(getattr(owner, attribute)))
    store.create_group("vars")


def _read_weights(store: Any, layers: list[Layer]) -> None:
    for layer, name in zip(layers, _group_names(layers), strict=True):
        if isinstance(layer, (TensorOperation, InputLayer)):
            continue
        for path, (owner, entries) in _weight_groups(layer).items():
            stored = store.get(f"layers/{name}/{path}", {})
            if len(stored) != len(entries):
                raise KerasFileError(
                    f"layer {layer.name!r} has {len(entries)} weights, the file "
                    f"{len(stored)} under layers/{name}/{path}"
                )
            with torch.no_grad():
                for index, (attribute, _, into) in enumerate(entries):
                    target = getattr(owner, attribute)
                    value = torch.from_numpy(into(np.asarray(stored[str(index)])))
                    if tuple(value.shape) != tuple(target.shape):
                        raise KerasFileError(
                            f"layer {layer.name!r}: {attribute} has shape "
                            f"{tuple(target.shape)}, the file's {tuple(value.shape)}"
                        )
                    target.copy_(value.to(target.dtype))


def _trainable_in_keras_order(layers: list[Layer]) -> list[TrainedWeight]:
    """The trained weights in Keras's order (its optimizer's), each with the changes of
    layout to Keras's and from it."""
    found: list[TrainedWeight] = []
    for layer in layers:
        if isinstance(layer, (TensorOperation, InputLayer)):
            continue
        for owner, entries in _weight_groups(layer).values():
            for attribute, out, into in entries:
                weight = getattr(owner, attribute)
                if isinstance(weight, torch.nn.Parameter) and weight.requires_grad:
                    found.append((weight, out, into))
    return found


def save_keras(
    model: Any, filepath: str | os.PathLike[str], include_optimizer: bool = True
) -> None:
    """Write ``model`` (a ``Sequential`` or functional model of :data:`KERAS_LAYERS`) as
    a Keras 3 ``.keras`` file, atomically; its compile settings and optimizer state go
    in members under ``deepdescent/``, which Keras does not read."""
    from deepdescent.models.sequential import Sequential

    config: dict[str, Any]
    if isinstance(model, Sequential):
        config = {
            "module": "keras",
            "class_name": "Sequential",
            "config": _sequential_config(model),
            "registered_name": None,
        }
    elif getattr(model, "graph", None) is not None:
        config = {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": _functional_config(model),
            "registered_name": "Functional",
        }
    else:
        raise KerasFileError(
            f"A {type(model).__name__} cannot be written as a .keras file (its code "
            "would be needed): use a Sequential or functional model, or a .deepdescent file"
        )
    keras_compiled = keras_compile_config(model, model.compile_config())
    if keras_compiled is not None:
        config["compile_config"] = keras_compiled
    buffer = io.BytesIO()
    h5py = _h5py()
    with h5py.File(buffer, "w") as store:
        _write_weights(store, _keras_layers(model))
        if keras_compiled is not None and include_optimizer:
            trained = _trainable_in_keras_order(_keras_layers(model))
            for index, value in enumerate(keras_optimizer_state(model, trained) or []):
                store.create_dataset(f"optimizer/vars/{index}", data=value)
    metadata = {
        "keras_version": "3.15.1",
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    }
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(_METADATA, json.dumps(metadata))
        zipped.writestr(_CONFIG, json.dumps(config))
        zipped.writestr(_WEIGHTS, buffer.getvalue())
        for name, data in _compile_members(model, include_optimizer).items():
            zipped.writestr(_OURS + name, data)
    atomic_write_bytes(filepath, archive.getvalue())


def _decode_args(value: Any, made: dict[tuple[str, int], list[SymbolicTensor]]) -> Any:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        name, node, index = value["config"]["keras_history"]
        return made[(name, node)][index]
    if isinstance(value, list):
        return [_decode_args(v, made) for v in value]
    if isinstance(value, dict):
        return {k: _decode_args(v, made) for k, v in value.items()}
    return value


def _ready(value: Any, made: dict[tuple[str, int], list[SymbolicTensor]]) -> bool:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        name, node, _ = value["config"]["keras_history"]
        return (name, node) in made
    if isinstance(value, list):
        return all(_ready(v, made) for v in value)
    if isinstance(value, dict):
        return all(_ready(v, made) for v in value.values())
    return True


def _functional_from(config: dict[str, Any]) -> Any:
    from deepdescent.models.model import Model

    built = {entry["name"]: _layer_from_entry(entry) for entry in config["layers"]}
    made: dict[tuple[str, int], list[SymbolicTensor]] = {
        (name, 0): [layer.output] for name, layer in built.items() if isinstance(layer, InputLayer)
    }
    pending = [
        (entry["name"], i, node)
        for entry in config["layers"]
        for i, node in enumerate(entry.get("inbound_nodes") or [])
    ]
    while pending:
        ready = [p for p in pending if _ready(p[2], made)]
        if not ready:
            raise KerasFileError("The file's graph refers to calls it does not define")
        for name, index, node in ready:
            args = _decode_args(node.get("args", []), made)
            kwargs = {
                k: v
                for k, v in _decode_args(node.get("kwargs", {}), made).items()
                if k not in ("training", "mask") or v not in (None, False)
            }
            result = built[name](*args, **kwargs)
            made[(name, index)] = (
                list(flatten(result)) if isinstance(result, (list, tuple)) else [result]
            )
            pending.remove((name, index, node))

    def tensors(spec: Any) -> Any:
        if spec and isinstance(spec[0], str):
            return made[(spec[0], spec[1])][spec[2]]
        return [tensors(s) for s in spec]

    return Model(
        tensors(config["input_layers"]), tensors(config["output_layers"]), name=config.get("name")
    )


def _sequential_from(config: dict[str, Any]) -> Any:
    from deepdescent.models.sequential import Sequential

    model = Sequential(name=config.get("name", "sequential"))
    for entry in config["layers"]:
        model.add(_layer_from_entry(entry))
    return model


def _compile_members(model: Any, include_optimizer: bool) -> dict[str, bytes]:
    compile_config = model.compile_config()
    if compile_config is None:
        return {}
    members = {_COMPILE: json.dumps(compile_config).encode()}
    return {**members, **optimizer_members(model)} if include_optimizer else members


def load_keras(filepath: str | os.PathLike[str], compile: bool = True) -> Any:
    """A model from a Keras 3 ``.keras`` file (see the module docstring for what is
    read); compiled (``compile``) when the file was written here from a compiled model."""
    try:
        with zipfile.ZipFile(filepath) as archive:
            config = json.loads(archive.read(_CONFIG))
            weights = archive.read(_WEIGHTS)
            ours = {
                name.removeprefix(_OURS): archive.read(name)
                for name in archive.namelist()
                if name.startswith(_OURS)
            }
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
        raise KerasFileError(
            f"{os.fspath(filepath)!r} is not a Keras 3 .keras file: {error}"
        ) from error
    kind = config.get("class_name")
    if kind == "Sequential":
        model = _sequential_from(config["config"])
    elif kind in ("Functional", "Model"):
        model = _functional_from(config["config"])
    else:
        raise KerasFileError(
            f"{os.fspath(filepath)!r} holds a {kind}; deepdescent reads Sequential and "
            "functional models from .keras files"
        )
    layers = _keras_layers(model, config["config"])
    h5py = _h5py()
    with h5py.File(io.BytesIO(weights), "r") as store:
        _read_weights(store, layers)
        kept = store.get("optimizer/vars", {})
        optimizer_state = [np.asarray(kept[str(i)]) for i in range(len(kept))]
    if compile and _COMPILE in ours:
        restore_compiled(model, json.loads(ours[_COMPILE]), ours, filepath)
    elif compile and config.get("compile_config"):
        source = repr(os.fspath(filepath))
        compile_from_keras(model, config["compile_config"], source)
        if model.compiled:
            trained = _trainable_in_keras_order(layers)
            restore_keras_state(model, optimizer_state, trained, source)
    return model
