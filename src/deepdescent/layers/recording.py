"""Layers whose per-example statistics can be recorded, found by a registry keyed by type.

Curvature methods that work layer by layer (K-FAC) and monitors of a layer's activity need,
for each affine layer ``z = a W + b``, its input a and the gradient reaching its
pre-activation output z on a training pass. A :class:`LayerRecord` describes one such
layer — its weight and bias, the weight's layout, and :meth:`LayerRecord.tap`, which calls a
function with (a, z) on every forward pass through the layer, by the layer's own hook and
never by replacing its methods. :func:`recordable_layers` lists them for a model by
looking each submodule's type up in a registry; a new family of layers (convolution,
recurrent, normalization) joins with :func:`register_recorder`.

Example (K-FAC in a plain PyTorch loop)::

    optimizer = deepdescent.optimizers.KFAC(net.parameters())
    optimizer.prepare(recordable_layers(net))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.hooks import RemovableHandle

from deepdescent.layers.core import Dense

__all__ = ["LayerRecord", "Tap", "recordable_layers", "register_recorder"]

#: Called with a layer's input a and its pre-activation output z (with its graph).
Tap = Callable[[torch.Tensor, torch.Tensor], None]


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
    """

    name: str
    module: torch.nn.Module
    weight: torch.Tensor
    bias: torch.Tensor | None
    layout: str
    tap: Callable[[Tap], RemovableHandle]


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


register_recorder(Dense, _dense_record)
register_recorder(torch.nn.Linear, _linear_record)
