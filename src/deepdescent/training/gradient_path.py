"""How ``fit`` computes gradients: autograd, or the hand-written back-propagation fast path.

The hand-written pass (:mod:`deepdescent.training.backprop`) is faster for small dense
networks but runs no hooks and builds no graph, so the trainer takes it only when the
model allows it (every layer has a rule, no regularizer or frozen parameter) *and* no
participant of the run needs autograd: the optimizer
(:class:`~deepdescent.optimizers.contract.TrainingNeeds` ``autograd``) and every callback
(:attr:`~deepdescent.callbacks.Callback.needs_autograd`). ``Model.backprop`` chooses:
``"auto"`` (the rule above), ``"autograd"``, or ``"manual"`` (an error when a participant
needs autograd or a layer has no rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deepdescent.training.backprop import BackpropObjective, supports_backprop
from deepdescent.training.objective import Objective, objective_parts

if TYPE_CHECKING:
    from deepdescent.models.model import Model

__all__ = ["BACKPROP_CHOICES", "GradientPath", "choose_gradient_path", "make_objective"]

BACKPROP_CHOICES = ("auto", "autograd", "manual")


@dataclass(frozen=True)
class GradientPath:
    """The path chosen (``"manual"`` or ``"autograd"``) and why, in words."""

    name: str
    reason: str


def choose_gradient_path(model: Model, autograd_needed_by: Sequence[str] = ()) -> GradientPath:
    """The path for ``model`` given the participants (by name) that need autograd.

    Raises:
        ValueError: ``model.backprop`` is not a choice, or is ``"manual"`` where the model
            or a participant rules it out.
    """
    requested = model.backprop
    if requested not in BACKPROP_CHOICES:
        raise ValueError(
            f"Invalid backprop: {requested!r} (expected one of {', '.join(BACKPROP_CHOICES)})"
        )
    if requested == "autograd":
        return GradientPath("autograd", "model.backprop is 'autograd'")
    if autograd_needed_by:
        if requested == "manual":
            raise ValueError(
                f"model.backprop is 'manual', but {', '.join(autograd_needed_by)} need "
                "autograd's backward pass: set model.backprop to 'auto' or 'autograd'"
            )
        return GradientPath("autograd", f"{', '.join(autograd_needed_by)} need autograd")
    if not supports_backprop(model):
        if requested == "manual":
            raise ValueError(
                "backprop='manual' needs a Sequential whose layers all have hand-written "
                "backward passes, no regularizers and no frozen parameters"
            )
        return GradientPath("autograd", "a layer (or a regularizer) needs autograd")
    return GradientPath("manual", "every layer has a hand-written backward pass")


def make_objective(model: Model, path: str = "autograd") -> Objective:
    """The model's objective, differentiated along ``path`` (``"autograd"``/``"manual"``)."""
    parts, fold = objective_parts(model)
    if path == "manual":
        return BackpropObjective(**parts, fold=fold)
    if path != "autograd":
        raise ValueError(f"Invalid path: {path!r} (expected 'autograd' or 'manual')")
    return Objective(**parts)
