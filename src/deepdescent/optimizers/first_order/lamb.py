r"""LAMB: Adam's direction with a layer-wise trust ratio, for large batches.

You, Li, Reddi, Hseu, Kumar, Bhojanapalli, Song, Demmel, Keutzer & Hsieh, "Large Batch
Optimization for Deep Learning: Training BERT in 76 minutes" (ICLR 2020), Algorithm 2.
For every layer ``i`` (here: every parameter tensor) at step t::

    m ← β₁ m + (1 − β₁) g;   v ← β₂ v + (1 − β₂) g ⊙ g           (m, v start at 0)
    m̂ = m / (1 − β₁ᵗ);       v̂ = v / (1 − β₂ᵗ)
    r = m̂ / (√v̂ + ε)                                               (Adam's direction)
    x ← x − η_t φ(‖x‖) / ‖r + λx‖ · (r + λx)

η_t the learning rate, λ the weight decay and φ the scaling function, the identity by
default or ``φ(z) = min(max(z, γ_l), γ_u)`` with ``weight_norm_bounds=(γ_l, γ_u)``. Each
layer thus moves by η_t φ(‖x‖) whatever the scale of its gradient: LARS's trust ratio
(:mod:`deepdescent.optimizers.first_order.lars`) applied to Adam's update. Where φ(‖x‖) or ‖r + λx‖
is 0 the ratio is taken as 1 (the paper leaves it undefined).

The weight decay λx enters *before* the trust ratio, as in the paper; with
``decoupled_weight_decay=False`` it is instead an L2 term added to g (so it passes
through the moments), and the ratio divides by ‖r‖.

Warning:
    torch.optim has no LAMB. The defaults are Keras's ``Lamb``: ``lr=0.001``,
    ``betas=(0.9, 0.999)``, ``eps=1e-6``. Keras applies its weight decay to the weights
    before the step, outside the trust ratio (``decoupled_weight_decay=True`` here keeps
    the paper's form, inside it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from deepdescent.optimizers import handwritten
from deepdescent.optimizers.base import (
    LearningRate,
    Optimizer,
    Params,
    check_betas,
    resolve_learning_rate,
)
from deepdescent.optimizers.compiled import Run, norms
from deepdescent.optimizers.first_order.adam import (
    adam_direction,
    bias_corrections,
    directions_of_moments,
    update_moments,
)
from deepdescent.optimizers.first_order.lars import trust_ratio
from deepdescent.utils._checks import check_argument

__all__ = ["Lamb"]


def _phi(weight_norm: torch.Tensor, bounds: tuple[float, float] | None) -> torch.Tensor:
    """The scaling φ of ‖x‖: the identity, or a clip to ``bounds`` = (γ_l, γ_u)."""
    return weight_norm if bounds is None else weight_norm.clamp(bounds[0], bounds[1])


class Lamb(Optimizer):
    """LAMB (You et al. 2020, Algorithm 2): Adam's direction, rescaled per layer.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the learning rate η, a number or a schedule ``step -> η`` (``learning_rate``
            is accepted as its Keras name). Default 0.001, as Keras.
        betas: (β₁, β₂), each in [0, 1).
        eps: ε ≥ 0, added to √v̂ (default 1e-6, as Keras).
        weight_decay: λ, added to the direction before the trust ratio.
        weight_norm_bounds: ``(γ_l, γ_u)`` clipping ‖x‖ in φ, or ``None`` for φ(z) = z.
        decoupled_weight_decay: ``True`` (default) for the paper's ``r + λx``; ``False``
            adds λx to the gradient instead (L2).
        clipvalue, clipnorm, global_clipnorm, foreach, fused: see
            :class:`~deepdescent.optimizers.base.Optimizer`.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
        >>> opt = deepdescent.optimizers.Lamb([w], lr=0.1)
        >>> w.grad = torch.tensor([1.0, 1.0]); _ = opt.step()
        >>> [round(v, 4) for v in w.tolist()]  # moved η‖w‖ = 0.5 along r = (1, 1)/(1 + ε)
        [2.6464, 3.6464]
    """

    # Decoupled λx belongs inside the trust ratio: the update adds it to the direction.
    decoupled_decay_in_update = True

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        weight_norm_bounds: tuple[float, float] | None = None,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = True,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        betas = check_betas(betas)
        check_argument("eps", eps, eps >= 0, "eps >= 0")
        if weight_norm_bounds is not None:
            ok = (
                isinstance(weight_norm_bounds, (tuple, list))
                and len(weight_norm_bounds) == 2
                and 0 <= weight_norm_bounds[0] <= weight_norm_bounds[1]
            )
            check_argument(
                "weight_norm_bounds", weight_norm_bounds, ok, "None or (γ_l, γ_u), 0 <= γ_l <= γ_u"
            )
            weight_norm_bounds = (float(weight_norm_bounds[0]), float(weight_norm_bounds[1]))
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.001),
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "weight_norm_bounds": weight_norm_bounds,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _decay(group: dict[str, Any]) -> float:
        return group["weight_decay"] if group["decoupled_weight_decay"] else 0.0

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        decay = self._decay(group)
        for param, grad in zip(params, grads, strict=True):
            state = self._init_state(param, "exp_avg", "exp_avg_sq")
            direction = adam_direction(state, grad, group["betas"], group["eps"])
            if decay:
                direction.add_(param, alpha=decay)
            ratio = trust_ratio(
                _phi(torch.linalg.vector_norm(param), group["weight_norm_bounds"]),
                torch.linalg.vector_norm(direction),
            )
            param.sub_(direction.mul_(group["lr"] * ratio))

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        states = [self._init_state(p, "exp_avg", "exp_avg_sq") for p in params]
        for state in states:
            state["step"] += 1
        run(
            _lamb_pass,
            (params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]),
            {"lr": group["lr"], **bias_corrections([s["step"] for s in states], group["betas"])},
            {
                "betas": group["betas"],
                "eps": group["eps"],
                "decay": self._decay(group),
                "bounds": group["weight_norm_bounds"],
            },
        )


def _lamb_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    *,
    lr: Any,
    first_corrections: list[Any],
    second_corrections: list[Any],
    betas: tuple[float, float],
    eps: float,
    decay: float,
    bounds: tuple[float, float] | None,
) -> None:
    """LAMB's step over lists of tensors: each layer's norms, then its step."""

    def directions() -> list[torch.Tensor]:
        """r + λx of the advanced moments."""
        made = directions_of_moments(
            exp_avgs, exp_avg_sqs, first_corrections, second_corrections, eps
        )
        if decay:
            torch._foreach_add_(made, params, alpha=decay)
        return made

    update_moments(exp_avgs, exp_avg_sqs, grads, betas)
    steps = directions()
    ratios = trust_ratio(_phi(torch.stack(norms(params)), bounds), torch.stack(norms(steps)))
    if torch.compiler.is_compiling():
        # Compiled, the pass that moves x computes r again from the stored moments: the
        # first r then lives only in the norm's pass, instead of being written out, read
        # back and allocated (a buffer of the parameters' size) every step.
        steps = directions()
    torch._foreach_mul_(steps, (lr * ratios).unbind())
    torch._foreach_sub_(params, steps)


def _lamb_by_hand(
    module: Any, tensors: Any, dynamic: Mapping[str, Any], static: Mapping[str, Any]
) -> None:
    """:func:`_lamb_pass` by the hand-written CPU body (its moments and both norms in one
    pass per tensor, the move of x in a second)."""
    bounds = static["bounds"]
    module.lamb(
        *tensors,
        float(dynamic["lr"]),
        dynamic["first_corrections"],
        dynamic["second_corrections"],
        *static["betas"],
        static["eps"],
        static["decay"],
        bounds is not None,
        *(bounds or (0.0, 0.0)),
    )


handwritten.register(_lamb_pass, _lamb_by_hand)
