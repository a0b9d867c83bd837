r"""Rprop: resilient backpropagation, a step size per weight driven by gradient signs.

Riedmiller & Braun, "A Direct Adaptive Method for Faster Backpropagation Learning: The
RPROP Algorithm", IEEE ICNN 1993, in the iRprop⁻ form of Igel & Hüsken ("Improving the
Rprop Learning Algorithm", 2000) that torch.optim implements. Each weight keeps a step
size Δ (initially ``lr``) and its previous gradient g⁻ (initially 0); with g the
gradient, η⁻ < 1 < η⁺ the ``etas`` and [Δ_min, Δ_max] the ``step_sizes``::

    if g⁻ g > 0:  Δ ← min(η⁺ Δ, Δ_max)
    if g⁻ g < 0:  Δ ← max(η⁻ Δ, Δ_min);  g ← 0
    θ ← θ − sign(g) Δ;   g⁻ ← g

Only the sign of the gradient is used, so Rprop is immune to its scale; it is a
full-batch method (minibatch noise flips signs and shrinks Δ).

Warning:
    iRprop⁻ does not step on a sign change (and forgets that gradient), where the 1993
    algorithm takes the last step back. ``lr`` sets only the initial Δ: a schedule, or a
    change of ``lr`` after the first step, has no effect. Keras has no Rprop; the defaults
    are torch.optim's.
"""

from __future__ import annotations

from typing import Any

import torch

from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.compiled import Run
from deepdescent.utils._checks import check_argument

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """iRprop⁻ (Riedmiller & Braun 1993; Igel & Hüsken 2000), as torch.optim's Rprop.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the initial step size Δ₀ (``learning_rate`` is accepted as its Keras name).
            Default 0.01, as torch.optim.
        etas: (η⁻, η⁺) with 0 < η⁻ < 1 < η⁺, the factors that shrink and grow Δ.
        step_sizes: (Δ_min, Δ_max) with 0 <= Δ_min <= Δ_max, the bounds on Δ.
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm,
        foreach: see :class:`~deepdescent.optimizers.base.Optimizer`.
        fused: ``True`` compiles the multi-tensor body into one pass, ``None`` does
            for large groups (see :mod:`~deepdescent.optimizers.compiled`).

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.Rprop([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step(); round(w.item(), 6)
        0.9
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50.0),
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument(
            "etas", etas, len(etas) == 2 and 0.0 < etas[0] < 1.0 < etas[1], "0 < η⁻ < 1 < η⁺"
        )
        check_argument(
            "step_sizes",
            step_sizes,
            len(step_sizes) == 2 and 0.0 <= step_sizes[0] <= step_sizes[1],
            "0 <= Δ_min <= Δ_max",
        )
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.01),
            "etas": tuple(etas),
            "step_sizes": tuple(step_sizes),
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def _state(self, param: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """g⁻ (zeros) and Δ (``lr`` everywhere), made on first use."""
        return self._init_state(param, "prev", step=False, fills={"step_size": group["lr"]})

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        shrink, grow = group["etas"]
        smallest, largest = group["step_sizes"]
        for param, grad in zip(params, grads, strict=True):
            state = self._state(param, group)
            prev, step_size = state["prev"], state["step_size"]
            agreement = grad.mul(prev)
            held, flipped = agreement > 0, agreement < 0
            factor = torch.ones_like(grad).masked_fill_(held, grow).masked_fill_(flipped, shrink)
            step_size.mul_(factor).clamp_(smallest, largest)
            grad = grad.masked_fill(flipped, 0.0)
            param.addcmul_(grad.sign(), step_size, value=-1.0)
            prev.copy_(grad)

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        states = [self._state(param, group) for param in params]
        run(
            _rprop_pass,
            (params, grads, [s["prev"] for s in states], [s["step_size"] for s in states]),
            {},
            {"etas": group["etas"], "bounds": group["step_sizes"]},
        )


def _rprop_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    prevs: list[torch.Tensor],
    step_sizes: list[torch.Tensor],
    *,
    etas: tuple[float, float],
    bounds: tuple[float, float],
) -> None:
    """iRprop⁻'s step over lists of tensors, Δ clamped to ``bounds`` = (Δ_min, Δ_max)."""
    shrink, grow = etas
    smallest, largest = bounds
    # Indicators without a per-tensor where: with σ = sign(g⁻ g) ∈ {−1, 0, 1},
    # held = max(σ, 0) and flipped = max(−σ, 0) are exclusive 0/1 masks, so the factor
    # is (1 − held − flipped) + η⁺·held + η⁻·flipped: each sum adds a value to zero, so
    # it is η⁺, η⁻ or 1 exactly (and cheaper than powers of η).
    held = torch._foreach_mul(grads, prevs)
    torch._foreach_sign_(held)
    flipped = torch._foreach_neg(held)
    torch._foreach_clamp_min_(held, 0.0)
    torch._foreach_clamp_min_(flipped, 0.0)
    factors = torch._foreach_add(held, flipped)
    torch._foreach_mul_(factors, -1.0)
    torch._foreach_add_(factors, 1.0)
    torch._foreach_add_(factors, held, alpha=grow)
    torch._foreach_add_(factors, flipped, alpha=shrink)
    torch._foreach_mul_(step_sizes, factors)
    torch._foreach_clamp_min_(step_sizes, smallest)
    torch._foreach_clamp_max_(step_sizes, largest)
    kept = flipped  # becomes 1 − flipped, then the gradient iRprop⁻ keeps
    torch._foreach_mul_(kept, -1.0)
    torch._foreach_add_(kept, 1.0)
    torch._foreach_mul_(kept, grads)
    torch._foreach_copy_(prevs, kept)
    torch._foreach_sign_(kept)
    torch._foreach_addcmul_(params, kept, step_sizes, value=-1.0)
