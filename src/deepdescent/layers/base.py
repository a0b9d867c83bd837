"""The Keras-style layer: a ``torch.nn.Module`` that builds its weights on first use."""

from __future__ import annotations

from typing import Any

import torch

Shape = tuple[int | None, ...]


def batch_shape(shape: Any, argument: str = "input_shape") -> Shape:
    """``(None, *shape)`` from a per-sample shape, checking it holds positive ints."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{argument} must be a tuple of ints, got {shape!r}") from None
    if not all(isinstance(d, int) and d > 0 for d in dims):
        raise ValueError(f"{argument} must hold positive ints, got {shape!r}")
    return (None, *dims)


class Layer(torch.nn.Module):
    """Base of deepdescent's layers.

    Subclasses create weights in :meth:`build` from the input's shape (batch axis
    ``None``), compute in :meth:`call`, and describe themselves in :meth:`get_config`.
    ``input_shape`` (per sample, as in Keras) lets a model build before seeing data.
    """

    def __init__(
        self, *, name: str | None = None, input_shape: Any = None, input_dim: int | None = None
    ) -> None:
        super().__init__()
        if input_dim is not None:
            input_shape = (input_dim,)
        self.name = name
        self.build_input_shape: Shape | None = (
            batch_shape(input_shape) if input_shape is not None else None
        )
        self.built = False

    def build(self, input_shape: Shape) -> None:
        """Create the layer's weights for inputs of ``input_shape``."""
        self.build_input_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The shape of the output for inputs of ``input_shape`` (batch axis included)."""
        return tuple(input_shape)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.built:
            self.build((None, *inputs.shape[1:]))
            self.to(inputs.device)
        return self.call(inputs)

    def regularization_losses(self) -> list[torch.Tensor]:
        """Penalty terms this layer adds to the cost (e.g. ``λ‖W‖²``)."""
        return []

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
