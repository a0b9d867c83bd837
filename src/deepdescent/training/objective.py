"""The objective J(θ) that ``fit`` minimizes: the model's outputs, the loss and the penalty.

When the model ends in the activation that the loss can take as logits (softmax before
categorical cross-entropy, sigmoid before binary cross-entropy) the cost is computed from
the pre-activation outputs with the stable log-softmax/log-sigmoid form, as Keras does;
predictions (what the metrics see) are the activation of those outputs.

Terms that need the targets besides the output's loss — auxiliary heads on hidden layers
(:class:`~deepdescent.layers.AuxiliaryHead`, Goodfellow et al. §8.7.5) — come from the
model's ``auxiliary_cost(y)`` after the forward pass: J = L(y, f(x)) + Σₖ wₖ Lₖ(y, gₖ) + Ω.
The heads run in training mode only, so evaluation sees L + Ω.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from deepdescent import activations, losses
from deepdescent.optimizers.contract import ModelOutputs

if TYPE_CHECKING:
    from deepdescent.models.model import Model

__all__ = ["Objective", "objective_parts"]


@dataclass
class Objective:
    """How a model's outputs become the cost and the predictions the metrics see."""

    model: Model
    forward: Callable[[torch.Tensor], torch.Tensor]
    loss: losses.Loss | None
    to_prediction: Callable[[torch.Tensor], torch.Tensor]
    penalty: Callable[[], torch.Tensor] | None
    auxiliary: Callable[[torch.Tensor], torch.Tensor | None] | None = None

    def __call__(
        self, x: Any, y: Any, sample_weight: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Any]:
        """The cost J(θ) on ``(x, y)`` (each sample's loss weighted by ``sample_weight``)
        and the model's (pre-activation) outputs."""
        outputs = self.forward(x)
        if self.loss is None:
            cost = self.penalty() if self.penalty is not None else _no_cost()
        else:
            cost = self.loss(y, outputs, sample_weight)
            if self.auxiliary is not None:
                extra = self.auxiliary(y)
                if extra is not None:
                    cost = cost + extra
            if self.penalty is not None:
                cost = cost + self.penalty()
        return cost, outputs

    def value_and_grad(
        self, x: Any, y: Any, sample_weight: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Any]:
        """The cost and outputs (detached), with ∇θJ left in the parameters' ``.grad``."""
        self.model.zero_grad(set_to_none=True)
        cost, outputs = self(x, y, sample_weight)
        cost.backward()
        return cost.detach(), _detached(outputs)

    def model_outputs(self, x: torch.Tensor, y: torch.Tensor) -> ModelOutputs:
        """The outputs and loss of the minibatch ``(x, y)`` as functions, for optimizers
        that declare ``model_outputs`` (Gauss–Newton products, the sampled Fisher)."""
        loss, forward = self.loss, self.forward
        if loss is None:
            raise ValueError("Optimizers that use the model's outputs need a compiled loss")
        return ModelOutputs(
            outputs_fn=lambda: forward(x),
            loss_of_outputs=lambda outputs: loss(y, outputs),
            penalty=self.penalty,
            sampled_loss=_sampled_loss(loss),
            batch_size=len(x),
            rows=lambda part: self.model_outputs(x[part], y[part]),
        )


def _sampled_loss(loss: losses.Loss) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """z ↦ s · loss(ỹ, z) with ỹ ~ p(y | z) (see :meth:`deepdescent.losses.Loss.
    target_sampler`), or ``None`` when the loss cannot be sampled from."""
    sampler = loss.target_sampler()
    if sampler is None:
        return None

    def sampled(outputs: torch.Tensor) -> torch.Tensor:
        targets, scale = sampler(outputs)
        value = loss(targets, outputs)
        return value if scale == 1.0 else value * scale

    return sampled


def objective_parts(model: Model) -> tuple[dict[str, Any], bool]:
    """The parts of ``model``'s :class:`Objective` as keyword arguments, and whether its
    final activation is folded into the loss (where the loss allows)."""
    loss, _ = model.require_compiled("fit")
    last = model.output_activation()
    fold = loss is not None and loss.folds(last)
    # Without a compiled loss the cost is the layers' own terms (add_loss), which may
    # appear only once the model has run.
    penalized = loss is None or model.has_regularizers()
    return {
        "model": model,
        "forward": model.forward_pre_activation if fold else model.forward,
        "loss": loss.with_logits() if fold and loss is not None else loss,
        "to_prediction": activations.get(last) if fold else _identity,
        "penalty": model.regularization_loss if penalized else None,
        "auxiliary": model.auxiliary_cost if model.has_auxiliary_heads() else None,
    }, fold


def _identity(tensor: Any) -> Any:
    return tensor


def _detached(outputs: Any) -> Any:
    if isinstance(outputs, torch.Tensor):
        return outputs.detach()
    if isinstance(outputs, dict):
        return {k: _detached(v) for k, v in outputs.items()}
    return type(outputs)(_detached(v) for v in outputs)


def _no_cost() -> torch.Tensor:
    raise ValueError(
        "There is no loss to compute: pass loss= to compile, add terms with add_loss, or "
        "override train_step"
    )
