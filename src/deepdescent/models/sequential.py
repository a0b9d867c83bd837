"""``Sequential``: Keras's linear stack of layers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import torch

from deepdescent import layers as layers_lib
from deepdescent.layers.base import Layer, Shape, batch_shape
from deepdescent.models.model import Model
from deepdescent.utils._checks import snake_case, unique_name


class Sequential(Model):
    """A stack of layers, each feeding the next: ``Sequential([Dense(32), Dense(10)])``.

    The model builds as soon as the input shape is known — from an ``Input`` layer, an
    ``input_shape=`` on the first layer, or the first batch it sees. Layers may be
    deepdescent layers or any ``torch.nn.Module``.
    """

    #: Its forward pass is its layers in turn (what the hand-written back-propagation
    #: replays); False in a subclass that computes otherwise.
    @property
    def is_layer_chain(self) -> bool:
        return type(self).forward is Sequential.forward

    def __init__(
        self, layers: Iterable[torch.nn.Module] | None = None, *, name: str = "sequential"
    ) -> None:
        super().__init__(name=name)
        self._input_shape: Shape | None = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Any) -> None:
        """Append a layer; an ``Input(shape=...)`` (or ``InputLayer``) only sets the input
        shape."""
        if isinstance(layer, layers_lib.SymbolicTensor):
            source = layer.node.layer if layer.node is not None else None
            if not isinstance(source, layers_lib.InputLayer):
                raise TypeError(
                    "Sequential takes layers, and an Input(shape=...) first; got a symbolic "
                    "tensor made by a layer (use Model(inputs, outputs) for graphs)"
                )
            layer = source
        if not isinstance(layer, torch.nn.Module):
            raise TypeError(
                f"layer must be a deepdescent layer or torch.nn.Module, got {type(layer).__name__}"
            )
        declared = getattr(layer, "build_input_shape", None)
        is_input = isinstance(layer, layers_lib.InputLayer)
        if is_input or (not self.layers and declared is not None):
            self._declare_input(declared)
        if is_input:
            return
        name = self._unique_name(layer)
        if isinstance(layer, Layer):
            layer.name = name
        self.add_module(name, layer)
        if self._input_shape is not None:
            self.build(self._input_shape)

    def _declare_input(self, shape: Any) -> None:
        if self.layers:
            raise ValueError("An input shape can only be given before the first layer")
        self._input_shape = tuple(shape)

    def _unique_name(self, layer: torch.nn.Module) -> str:
        taken = {name for name, _ in self.named_children()}
        requested = getattr(layer, "name", None)
        if requested:
            if requested in taken:
                raise ValueError(
                    f"A layer named {requested!r} is already in the model; "
                    "layer names must be unique"
                )
            return requested
        return unique_name(snake_case(type(layer).__name__), taken)

    @property
    def input_shape(self) -> Shape | None:
        return self._input_shape

    @property
    def built(self) -> bool:
        return self._input_shape is not None and all(
            layer.built for layer in self.layers if isinstance(layer, Layer)
        )

    @built.setter
    def built(self, value: bool) -> None:
        self._built = bool(value)

    def build(self, input_shape: Shape) -> None:
        """Build every layer for inputs of ``input_shape`` (batch axis first)."""
        if self._input_shape is not None and tuple(input_shape[1:]) != self._input_shape[1:]:
            raise ValueError(
                f"input_shape {tuple(input_shape)} differs from the model's {self._input_shape}"
            )
        self._input_shape = (None, *input_shape[1:])
        shape = self._input_shape
        for layer in self.layers:
            shape = _build_layer(layer, shape)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            inputs = layer(inputs)
        return inputs

    def output_activation(self) -> str | None:
        last = self.layers[-1] if self.layers else None
        return getattr(last, "activation_name", None)

    def forward_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        *body, last = self.layers
        for layer in body:
            inputs = layer(inputs)
        return cast(Any, last).call_pre_activation(inputs)

    def get_config(self) -> dict[str, Any]:
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise ValueError(
                    f"Layer {type(layer).__name__} is a plain torch module; only "
                    "deepdescent layers can be saved with their architecture. "
                    "Use save_weights instead."
                )
        return {
            "name": self.name,
            "input_shape": None if self._input_shape is None else list(self._input_shape[1:]),
            "layers": [layers_lib.serialize(layer) for layer in self.layers],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        model = cls(name=str(config.get("name", "sequential")))
        if config.get("input_shape") is not None:
            model.add(layers_lib.InputLayer(shape=batch_shape(config["input_shape"])[1:]))
        for spec in config.get("layers", []):
            model.add(layers_lib.deserialize(spec))
        return model


def _build_layer(layer: torch.nn.Module, shape: Shape) -> Shape:
    """Build ``layer`` for ``shape`` and return its output shape."""
    if isinstance(layer, Layer):
        if not layer.built:
            layer.build_for(shape, _device(layer))
        return cast(Shape, layer.compute_output_shape(shape))
    with torch.no_grad():
        out = layer(torch.zeros((1, *cast(tuple[int, ...], shape[1:])), device=_device(layer)))
    return (None, *out.shape[1:])


def _device(layer: torch.nn.Module) -> torch.device | None:
    first = next(iter(layer.parameters()), None)
    return first.device if first is not None else None
