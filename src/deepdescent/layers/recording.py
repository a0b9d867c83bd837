"""Layers whose per-example statistics can be recorded, found by a registry keyed by type.

Curvature methods that work layer by layer (K-FAC) and monitors of a layer's activity need,
for each affine layer ``z = a W + b``, its input a and the gradient reaching its
pre-activation output z on a training pass. A :class:`LayerRecord` describes one such
layer — its weight and bias, the weight's layout, and :meth:`LayerRecord.tap`, which calls a
function with (a, z) on every forward pass through the layer, by the layer's own hook and
never by replacing its methods. A convolution is affine too, patch by patch: its record
adds the :class:`Convolution` geometry that cuts a into the patches the kernel meets.
:func:`recordable_layers` lists them for a model by looking each submodule's type up in a
registry (``Dense``, ``torch.nn.Linear``, ``Conv1D/2D/3D`` and ``torch.nn.Conv1d/2d/3d``
with ``groups=1``); a new family of layers (recurrent, normalization) joins with
:func:`register_recorder`.

Example (K-FAC in a plain PyTorch loop)::

    optimizer = deepdescent.optimizers.KFAC(net.parameters())
    optimizer.prepare(recordable_layers(net))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.hooks import RemovableHandle

from deepdescent.layers.convolutional import Conv1D, Conv2D, Conv3D
from deepdescent.layers.core import Dense

__all__ = ["Convolution", "LayerRecord", "Tap", "recordable_layers", "register_recorder"]

#: Called with a layer's input a and its pre-activation output z (with its graph).
Tap = Callable[[torch.Tensor, torch.Tensor], None]


@dataclass(frozen=True)
class Convolution:
    """How a convolution layer's kernel meets its input: output location t (one of |T|)
    reads the window ``padded(a)[:, :, t·s : t·s + (k − 1)·d + 1 : d]`` on each spatial
    axis.

    Attributes:
        kernel_size, strides, dilation: k, s and d, one per spatial axis.
        padded: the layer's input as the kernel slides over it: channels first
            ``(batch, channels, *spatial)``, padded as the layer pads it.
        channels_last: whether z (and its gradient) keep the channels on the last axis
            (Keras's default) rather than on axis 1 (torch's).
    """

    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    padded: Callable[[torch.Tensor], torch.Tensor]
    channels_last: bool


@dataclass(frozen=True)
class LayerRecord:
    """One recordable affine layer ``z = a W + b`` of a model.

    Attributes:
        name: the layer's qualified name in the model (``""`` for the model itself).
        module: the layer.
        weight: W, in ``layout``: ``"in_out"`` for a Keras kernel (fan-in, units),
            ``"out_in"`` for torch's (out_features, in_features).
        bias: b, or ``None``.
        layout: ``"in_out"`` or ``"out_in"``.
        tap: ``tap(function)`` calls ``function(a, z)`` on every forward pass through the
            layer until the returned handle's ``remove()``.
        convolution: for a convolution, its geometry (``weight`` is then torch's
            ``(filters, in_channels, *kernel_size)``, ``"out_in"`` once flattened to
            ``(filters, in_channels · Πk)``); ``None`` for a fully connected layer.
    """

    name: str
    module: torch.nn.Module
    weight: torch.Tensor
    bias: torch.Tensor | None
    layout: str
    tap: Callable[[Tap], RemovableHandle]
    convolution: Convolution | None = None


RecordMaker = Callable[[str, torch.nn.Module], LayerRecord | None]
_RECORDERS: dict[type[torch.nn.Module], RecordMaker] = {}


def register_recorder(layer_type: type[torch.nn.Module], make: RecordMaker) -> None:
    """Make layers of ``layer_type`` (and its subclasses) recordable: ``make(name, layer)``
    returns the layer's :class:`LayerRecord`, or ``None`` when it has no weight yet."""
    _RECORDERS[layer_type] = make


def recordable_layers(model: torch.nn.Module) -> list[LayerRecord]:
    """The recordable layers of ``model`` (itself included), in module order."""
    found = []
    for name, module in model.named_modules():
        make = next((_RECORDERS[t] for t in type(module).__mro__ if t in _RECORDERS), None)
        record = make(name, module) if make is not None else None
        if record is not None:
            found.append(record)
    return found


def _dense_record(name: str, layer: torch.nn.Module) -> LayerRecord | None:
    assert isinstance(layer, Dense)
    if not layer.built:
        return None

    def attach(function: Tap) -> RemovableHandle:
        return layer.register_pre_activation_hook(lambda _layer, a, z: function(a, z))

    return LayerRecord(name, layer, layer.kernel, layer.bias, "in_out", attach)


def _linear_record(name: str, layer: torch.nn.Module) -> LayerRecord | None:
    assert isinstance(layer, torch.nn.Linear)

    def attach(function: Tap) -> RemovableHandle:
        return layer.register_forward_hook(lambda _m, inputs, output: function(inputs[0], output))

    return LayerRecord(name, layer, layer.weight, layer.bias, "out_in", attach)


def _keras_conv_record(name: str, layer: torch.nn.Module) -> LayerRecord | None:
    """A built Conv1D/2D/3D with one group (grouped ones keep the methods' fallback)."""
    assert isinstance(layer, Conv1D | Conv2D | Conv3D)
    if not layer.built or layer.groups != 1:
        return None

    def attach(function: Tap) -> RemovableHandle:
        return layer.register_pre_activation_hook(lambda _layer, a, z: function(a, z))

    geometry = Convolution(
        layer.kernel_size,
        layer.strides,
        layer.dilation_rate,
        layer.padded_inputs,
        layer.data_format == "channels_last",
    )
    return LayerRecord(name, layer, layer.kernel, layer.bias, "out_in", attach, geometry)


def _torch_padding(layer: torch.nn.modules.conv._ConvNd) -> list[int]:
    """``F.pad``'s list (last axis first) for torch's ``padding``: an int per axis on both
    sides, or the string ``"same"`` (the odd extra position at the end) or ``"valid"``."""
    pads: list[int] = []
    for axis in reversed(range(len(layer.kernel_size))):
        if layer.padding == "valid":
            left = right = 0
        elif layer.padding == "same":
            total = layer.dilation[axis] * (layer.kernel_size[axis] - 1)
            left, right = total // 2, total - total // 2
        else:
            left = right = int(layer.padding[axis])
        pads += [left, right]
    return pads


def _torch_conv_record(name: str, layer: torch.nn.Module) -> LayerRecord | None:
    """A torch.nn.Conv1d/2d/3d with one group and its weight materialized."""
    assert isinstance(layer, torch.nn.modules.conv._ConvNd)
    if layer.groups != 1 or isinstance(layer.weight, torch.nn.parameter.UninitializedParameter):
        return None
    pads = _torch_padding(layer)
    mode = "constant" if layer.padding_mode == "zeros" else layer.padding_mode

    def padded(inputs: torch.Tensor) -> torch.Tensor:
        return F.pad(inputs, pads, mode=mode) if any(pads) else inputs

    def attach(function: Tap) -> RemovableHandle:
        return layer.register_forward_hook(lambda _m, inputs, output: function(inputs[0], output))

    geometry = Convolution(layer.kernel_size, layer.stride, layer.dilation, padded, False)
    return LayerRecord(name, layer, layer.weight, layer.bias, "out_in", attach, geometry)


register_recorder(Dense, _dense_record)
register_recorder(torch.nn.Linear, _linear_record)
for _keras_conv in (Conv1D, Conv2D, Conv3D):
    register_recorder(_keras_conv, _keras_conv_record)
for _torch_conv in (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d):
    register_recorder(_torch_conv, _torch_conv_record)
