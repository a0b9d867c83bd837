r"""The residual (skip) connection: ``Residual(block)`` computes x + F(x).

Goodfellow et al. §8.7.5 ("designing models to aid optimization"): paths that skip layers
shorten the distance from the loss to the lower layers, so that gradients reach them
without passing through every nonlinearity on the way (Srivastava et al. 2015; He et al.
2016). With h = x + F(x), ∂h/∂x = I + ∂F/∂x: the identity carries the gradient back even
where F's own Jacobian is small (saturated sigmoids) — the vanishing gradient of a deep
plain network does not happen.

References:
    K. He, X. Zhang, S. Ren & J. Sun, "Deep residual learning for image recognition",
    CVPR 2016. R. K. Srivastava, K. Greff & J. Schmidhuber, "Training very deep
    networks", NeurIPS 2015. Goodfellow, Bengio & Courville, *Deep Learning*, §8.7.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from deepdescent import activations
from deepdescent.layers.base import Layer, Shape
from deepdescent.layers.containers import LayerStack

__all__ = ["Residual"]


class Residual(LayerStack):
    """``activation(x + block(x))``, usable inside ``Sequential``.

    Args:
        block: the residual branch F: a layer or a list of layers (run in order), whose
            output has the shape of its input.
        activation: applied after the addition (He et al. 2016 use ReLU there; the
            default, none, is the identity path of their "pre-activation" form).

    Example:
        >>> from deepdescent.layers import Dense, Residual
        >>> from deepdescent.models import Sequential
        >>> model = Sequential([Dense(32, input_shape=(8,)),
        ...                     Residual([Dense(32, activation="relu"), Dense(32)])])
    """

    def __init__(self, block: Layer | Sequence[Any], activation: Any = None, **kwargs: Any) -> None:
        super().__init__(block, "block", **kwargs)
        self.activation = activations.get(activation)
        if self.build_input_shape is not None:
            self.build(self.build_input_shape)

    def build(self, input_shape: Shape) -> None:
        output_shape = self.build_inner(input_shape)
        if tuple(output_shape[1:]) != tuple(input_shape[1:]):
            raise ValueError(
                f"Invalid block: its output shape {tuple(output_shape)} differs from its input "
                f"shape {tuple(input_shape)} (expected a block that keeps the shape, so that "
                "x + block(x) is defined)"
            )
        super().build(input_shape)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(inputs + self.run_inner(inputs))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "block": self.inner_config(),
            "activation": activations.serialize(self.activation),
        }
