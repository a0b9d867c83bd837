r"""Sharpness-aware minimization (SAM), and its adaptive form (ASAM), around any optimizer.

Foret, Kleiner, Mobahi & Neyshabur (2021), *Sharpness-Aware Minimization for Efficiently
Improving Generalization*, Algorithm 1 (p = 2). SAM minimizes
``max_{‖ε‖₂ ≤ ρ} L(θ + ε)``; to first order the maximizer is

.. math::
    \hat ε(θ) = ρ \, g / ‖g‖_2, \qquad g = ∇L(θ)

(the norm taken over *all* parameters together), and the update is the base optimizer's
step with the gradient at the perturbed point:

.. math::
    g_{SAM} = ∇L(θ)\big|_{θ + \hat ε(θ)}, \qquad θ ← A(θ, g_{SAM})

(plain SGD as A: ``θ ← θ − η g_SAM``). Each step so costs two evaluations of the loss
and gradient on the same minibatch, which is why SAM needs a closure.

With ``adaptive=True`` the neighbourhood is scaled by the weights' magnitudes (Kwon, Kim,
Park & Choi 2021, *ASAM*, Algorithm 1), with the element-wise ``T_θ = |θ| + η``:

.. math::
    \hat ε = ρ \, T_θ^2 g / ‖T_θ g‖_2

Warning:
    The ASAM authors' code leaves biases unscaled (``T = 1``); here every parameter is
    scaled alike. ASAM wants a larger ρ than SAM (the authors use 0.5 to 2).
    Returning to θ copies the saved θ back (exact), at the cost of one parameter-sized
    buffer per step. Layers with batch statistics (``BatchNormalization``) see two
    forward passes per step, and update their moving averages at both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from deepdescent.optimizers.base import needs_of
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.optimizers.wrappers.base import OptimizerWrapper
from deepdescent.utils._checks import check_argument, check_non_negative

__all__ = ["SAM"]


class SAM(OptimizerWrapper):
    """SAM (Foret et al. 2021, Algorithm 1) or ASAM around a base optimizer.

    ``step(closure)`` evaluates the closure at θ (its loss is returned), moves to
    θ + ε̂, evaluates it again there, comes back to θ and steps the base optimizer with
    the second gradient. The closure must reset the gradients and return the loss, as
    every closure for ``torch.optim`` does; ``fit`` passes one.

    Args:
        base_optimizer: the optimizer A that takes the step: any ``torch.optim.Optimizer``
            (bound), an unbound deepdescent optimizer (``compile`` binds it), or a
            name/config. One that re-evaluates the loss itself (a line search) is refused.
        rho: the neighbourhood's radius ρ >= 0 (the paper's default 0.05).
        adaptive: ASAM's scale-invariant neighbourhood.
        eta: η >= 0 of ASAM's ``T_θ = |θ| + η`` (the authors' 0.01); only with ``adaptive``.

    The learning rate is the base's (``learning_rate`` reads and sets it); SAM keeps no
    state of its own.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.SAM(torch.optim.SGD([w], lr=0.1), rho=0.5)
        >>> def closure():
        ...     opt.zero_grad(); loss = (w ** 2).sum(); loss.backward(); return loss
        >>> _ = opt.step(closure); round(w.item(), 6)  # gradient taken at 1.5
        0.7
    """

    def __init__(
        self,
        base_optimizer: torch.optim.Optimizer | str | dict[str, Any],
        rho: float = 0.05,
        adaptive: bool = False,
        eta: float = 0.01,
    ) -> None:
        check_non_negative("rho", rho)
        check_non_negative("eta", eta)
        check_argument("adaptive", adaptive, isinstance(adaptive, bool), "True or False")
        self.rho, self.adaptive, self.eta = float(rho), adaptive, float(eta)
        super().__init__(base_optimizer)
        if needs_of(self.base_optimizer).closure:
            raise ValueError(
                f"Invalid base_optimizer: {type(self.base_optimizer).__name__} re-evaluates "
                "the loss itself, but SAM steps it with the gradient at θ + ε̂, without a closure"
            )

    # A closure, whatever the base optimizer (read by the base class before binding).
    training_needs = TrainingNeeds(closure=True)

    def needs(self) -> TrainingNeeds:
        """The base optimizer's, and a closure: SAM takes a second gradient at θ + ε̂."""
        return dataclasses.replace(super().needs(), closure=True)

    def _options(self) -> dict[str, Any]:
        return {"rho": self.rho, "adaptive": self.adaptive, "eta": self.eta}

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self, closure: Callable[[], torch.Tensor] | None = None
    ) -> torch.Tensor | None:
        """One SAM update; returns the loss at θ (the closure's first value)."""
        self._check_bound()
        loss = self._evaluate(closure)
        params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        if params:
            saved = self._ascend(params)
            self._evaluate(closure)
            torch._foreach_copy_(params, saved)
        self.base_optimizer.step()
        self.iterations += 1
        return loss

    def _ascend(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """θ ← θ + ε̂(θ); returns the θ to come back to.

        ε̂ is built in place in the gradients, which the closure replaces next.
        """
        saved = [p.detach().clone() for p in params]
        grads = [p.grad for p in params if p.grad is not None]
        scales: list[torch.Tensor] = []
        if self.adaptive:
            scales = list(torch._foreach_abs(saved))
            torch._foreach_add_(scales, self.eta)
            torch._foreach_mul_(grads, scales)  # T g
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        # ρ/‖g‖, or 0 when g = 0 (then ε̂ = 0): decided on the device, no host sync.
        factor = torch.where(norm > 0, self.rho / norm, torch.zeros_like(norm))
        if self.adaptive:
            torch._foreach_mul_(grads, scales)  # T² g
        torch._foreach_mul_(grads, factor)
        torch._foreach_add_(params, grads)
        return saved
