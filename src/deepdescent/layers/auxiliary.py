r"""Auxiliary heads: extra outputs on hidden layers with losses of their own.

Goodfellow et al. §8.7.5: "adding extra copies of the output that are attached to the
intermediate hidden layers" (GoogLeNet, Szegedy et al. 2015; deeply supervised nets, Lee
et al. 2015) gives the lower layers a short path from a loss, so that they receive a
strong gradient early in training. The cost becomes

    J(θ) = L(y, f(x; θ)) + Σₖ wₖ Lₖ(y, gₖ(h⁽ˡᵏ⁾; θ)) + Ω(θ)

with gₖ the k-th head on hidden layer lₖ and wₖ its weight (GoogLeNet: 0.3). The heads
are used while training only: at inference (``evaluate``, ``predict``, validation) the
layer passes its input on and the head is not computed.

In ``fit`` the trainer adds the heads' terms to the objective
(:mod:`deepdescent.training.objective`); ``loss`` in the history includes them while
training, ``val_loss`` and ``evaluate`` do not. Curvature methods that take the model's
outputs see the main output only: Hessian-free's Gauss–Newton products leave the heads'
terms out of the curvature, and K-FAC, whose sampled Fisher is back-propagated from the
main output and so never reaches a head's layers, refuses such a model with an error that
names the head's layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch

from deepdescent import losses
from deepdescent.layers.base import Layer, Shape
from deepdescent.layers.containers import LayerStack
from deepdescent.utils._checks import check_argument, is_number

__all__ = ["AuxiliaryHead"]


class AuxiliaryHead(LayerStack):
    """A head on the hidden layer it follows in a ``Sequential``: the identity on the
    main path, and while training ``head(x)``, whose loss (times ``weight``) joins the
    cost through :meth:`auxiliary_loss`.

    Args:
        head: the head g: a layer or a list of layers, ending in an output the loss takes
            with the model's targets y (the same y as the main output's).
        loss: the head's loss (a name or a Loss), e.g. ``"categorical_crossentropy"``.
        weight: w > 0, the head's weight in the cost (GoogLeNet's 0.3).

    Example:
        >>> from deepdescent.layers import AuxiliaryHead, Dense
        >>> head = AuxiliaryHead(Dense(10, activation="softmax"),
        ...                      loss="categorical_crossentropy", weight=0.3)
    """

    def __init__(
        self, head: Layer | Sequence[Any], loss: Any, weight: float = 0.3, **kwargs: Any
    ) -> None:
        super().__init__(head, "head", **kwargs)
        resolved = losses.get(loss)
        check_argument("loss", loss, resolved is not None, "a loss, e.g. 'mse'")
        check_argument("weight", weight, is_number(weight) and weight > 0, "a number > 0")
        self.loss = cast(losses.Loss, resolved)
        self.weight = float(weight)
        self._outputs: torch.Tensor | None = None
        if self.build_input_shape is not None:
            self.build(self.build_input_shape)

    def build(self, input_shape: Shape) -> None:
        self.build_inner(input_shape)
        super().build(input_shape)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        self._outputs = self.run_inner(inputs) if self.training else None
        return inputs

    def auxiliary_loss(self, y_true: torch.Tensor) -> torch.Tensor | None:
        """w · L(y, head(x)) for the head's output of the last forward pass in training
        mode, or ``None`` (inference, or already taken). Each output is taken once, so no
        graph is kept beyond the step that uses it."""
        outputs, self._outputs = self._outputs, None
        if outputs is None:
            return None
        return self.weight * self.loss(y_true, outputs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "head": self.inner_config(),
            "loss": losses.serialize(self.loss),
            "weight": self.weight,
        }
