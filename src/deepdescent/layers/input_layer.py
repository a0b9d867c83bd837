"""``Input`` and ``InputLayer``: where a model's data come in.

``Input(shape=(784,))`` returns the symbolic tensor a functional model starts from
(Keras's ``keras.Input``); in a ``Sequential`` list it declares the input shape.
"""

from __future__ import annotations

from typing import Any

import torch

from deepdescent import config
from deepdescent.layers.base import Layer, batch_shape
from deepdescent.layers.symbolic import Node, SymbolicTensor

__all__ = ["Input", "InputLayer"]


class InputLayer(Layer):
    """The source of one input of a model: its per-sample shape and dtype.

    Args:
        shape: the per-sample shape (``None`` for an axis of any length).
        dtype: the dtype of the data (default floatx; ``"int32"`` for token ids).
        batch_size: accepted for Keras's signature; the batch axis stays free.
    """

    def __init__(
        self,
        shape: Any = None,
        batch_size: int | None = None,
        dtype: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        shape = kwargs.pop("input_shape", shape)
        if "batch_shape" in kwargs:
            shape = tuple(kwargs.pop("batch_shape"))[1:]
        if shape is None:
            raise ValueError("Input needs shape, the per-sample input shape, e.g. (784,)")
        super().__init__(name=name, **kwargs)
        self.shape = batch_shape(shape, "shape")
        self.build_input_shape = self.shape
        self.input_dtype = config.standardize_dtype(dtype)
        self.built = True
        node = Node(self, (), {})
        tensor = SymbolicTensor(self.shape, self.input_dtype, node, 0, name=name)
        node.outputs = tensor
        node.flat_outputs.append(tensor)
        self.inbound_nodes.append(node)
        self.output = tensor

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "shape": list(self.shape[1:]),
            "dtype": str(self.input_dtype).removeprefix("torch."),
        }


def Input(
    shape: Any = None,
    batch_size: int | None = None,
    dtype: Any = None,
    name: str | None = None,
    **kwargs: Any,
) -> SymbolicTensor:
    """A symbolic input tensor of per-sample ``shape``: ``Input(shape=(28, 28, 1))``."""
    return InputLayer(shape, batch_size=batch_size, dtype=dtype, name=name, **kwargs).output
