"""Layers that hold other layers: the part they share (building the inner layers in turn,
their configs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from deepdescent.layers.base import Layer, Shape
from deepdescent.utils._config import serialize

__all__ = ["LayerStack"]


class LayerStack(Layer):
    """A layer that runs an inner stack of deepdescent layers (``inner``, in order).

    ``inner`` may be one layer, a list of layers, or their configs (as a saved model holds
    them); they are built for the stack's input shape in turn.
    """

    def __init__(self, inner: Layer | Sequence[Any], argument: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from deepdescent.layers import deserialize  # the package imports this module

        items = [inner] if isinstance(inner, (torch.nn.Module, dict)) else list(inner)
        if not items:
            raise ValueError(f"Invalid {argument}: {inner!r} (expected one layer or more)")
        stack = [deserialize(item) if isinstance(item, dict) else item for item in items]
        for layer in stack:
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Invalid {argument}: {type(layer).__name__} (expected deepdescent layers, "
                    "whose configs can be saved)"
                )
        self.inner = torch.nn.ModuleList(stack)

    @property
    def layers(self) -> list[Layer]:
        """The inner layers, in order."""
        return list(self.inner)  # type: ignore[arg-type]

    def build_inner(self, input_shape: Shape) -> Shape:
        """Build the inner layers for ``input_shape``; returns the stack's output shape."""
        shape = tuple(input_shape)
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
        return shape

    def run_inner(self, inputs: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            inputs = layer(inputs)
        return inputs

    def inner_config(self) -> list[dict[str, Any]]:
        return [serialize(layer) for layer in self.layers]
