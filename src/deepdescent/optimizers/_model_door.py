r"""What curvature methods read from a compiled deepdescent ``Model`` while ``fit`` trains it.

``fit`` hands an optimizer only torch.optim's closure (loss and gradients on a minibatch).
Gauss–Newton products (Hessian-free) and the Fisher of K-FAC need more: the network
outputs z on that minibatch and the loss as a function of them. :class:`ModelDoor` keeps
the inputs of the latest training pass (a forward pre-hook on the model's first
submodule, recording only while autograd is on, i.e. not in ``evaluate``) and the
trainer's own objective (the same forward, with a softmax or sigmoid output folded into
the cross-entropy as ``fit`` does), from which both follow.

The targets stay inside the trainer's closure, so what needs them is served only for the
"matching" losses of Schraudolph (2002) — mean squared error, and cross-entropy on logits
(folded or ``from_logits=True``) — which are negative log-likelihoods of a distribution
p(y | z) whose Hessian in z does not depend on y:

* :meth:`stand_in_targets`: targets at which the loss has its Hessian in z — the model's
  own prediction (any target would do);
* :meth:`sampled_loss`: the loss at targets y ~ p(y | z), the model's predictive
  distribution (Martens & Grosse 2015, §5), scaled so that its gradient g in z has
  E[g gᵀ] = ∇²_z L (the Fisher equals the Gauss–Newton matrix of the loss as trained):
  a category of softmax(z) (cross-entropy sums over the classes: scale 1);
  Bernoulli(sigmoid(z)) with the loss times √k (binary cross-entropy averages over the
  k outputs, a k-th of the log-likelihood); z + 𝒩(0, k/2) for the mean squared error
  over k outputs (the variance whose score has covariance 2/k, its Hessian).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch

__all__ = ["ModelDoor"]


class ModelDoor:
    """The latest training inputs and the objective of a compiled deepdescent ``Model``."""

    def __init__(self, model: torch.nn.Module) -> None:
        from deepdescent import losses
        from deepdescent.models.training import make_objective

        self.objective = make_objective(cast(Any, model), "autograd")
        loss = self.objective.loss
        self.family: str | None = None
        if isinstance(loss, losses.MeanSquaredError):
            self.family = "gaussian"
        elif getattr(loss, "from_logits", False):
            if isinstance(loss, losses.CategoricalCrossentropy):
                self.family = "categorical"
            elif isinstance(loss, losses.BinaryCrossentropy):
                self.family = "bernoulli"
            elif isinstance(loss, losses.SparseCategoricalCrossentropy) and (
                loss.ignore_class is None
            ):
                self.family = "sparse_categorical"
        self.inputs: torch.Tensor | None = None
        first = next(model.children(), model)
        self._handle = first.register_forward_pre_hook(self._remember)

    def _remember(self, _module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        if torch.is_grad_enabled() and args and isinstance(args[0], torch.Tensor):
            self.inputs = args[0]

    @property
    def ready(self) -> bool:
        """Whether a matching loss and the inputs of a training pass are known."""
        return self.family is not None and self.inputs is not None

    def outputs_fn(self) -> Callable[[], torch.Tensor]:
        """z = f(x; θ) on the latest training inputs (recomputed at each call)."""
        objective, inputs = self.objective, self.inputs
        if inputs is None:
            raise RuntimeError("No training pass has run since the inputs were last cleared")
        return lambda: objective.forward(inputs)

    def loss_of_outputs(self, targets: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """z ↦ L(targets, z), the trainer's loss (without the regularization penalty)."""
        loss = self.objective.loss
        return lambda outputs: loss(targets, outputs)

    @property
    def penalty(self) -> Callable[[], torch.Tensor] | None:
        """The model's regularization penalty Ω(θ), when it has one."""
        return cast(Callable[[], torch.Tensor] | None, self.objective.penalty)

    def stand_in_targets(self, outputs: torch.Tensor) -> torch.Tensor:
        """Targets at which the loss's Hessian in z is what it is at any target."""
        if self.family == "gaussian":
            return outputs
        if self.family == "categorical":
            return torch.softmax(outputs, dim=-1)
        if self.family == "bernoulli":
            return torch.sigmoid(outputs)
        return outputs.argmax(dim=-1)

    def sampled_loss(self, outputs: torch.Tensor) -> torch.Tensor:
        """The loss of ``outputs`` (with their graph) at targets drawn from p(y | z)."""
        z = outputs.detach()
        width = outputs.shape[-1]
        if self.family == "gaussian":
            return self.objective.loss(z + torch.randn_like(z) * (width / 2) ** 0.5, outputs)
        if self.family == "bernoulli":
            drawn = torch.bernoulli(torch.sigmoid(z))
            return self.objective.loss(drawn, outputs) * width**0.5
        rows = torch.softmax(z.reshape(-1, width), dim=-1)
        labels = torch.multinomial(rows, 1).reshape(z.shape[:-1])
        if self.family == "categorical":
            return self.objective.loss(torch.nn.functional.one_hot(labels, width).to(z), outputs)
        return self.objective.loss(labels, outputs)

    def detach(self) -> None:
        """Remove the hook."""
        self._handle.remove()
