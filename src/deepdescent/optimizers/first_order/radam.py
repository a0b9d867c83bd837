r"""RAdam: Adam with the variance of its adaptive learning rate rectified.

Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020,
Algorithm 2, in the book's notation for Adam (Algorithm 8.7: ε the learning rate, ρ₁, ρ₂
the decay rates ``betas``, δ the small constant ``eps``). At step t, with ĝ the gradient::

    s ← ρ₁ s + (1 − ρ₁) ĝ            r ← ρ₂ r + (1 − ρ₂) ĝ ⊙ ĝ
    ρ_∞ = 2 / (1 − ρ₂) − 1           ρ_t = ρ_∞ − 2 t ρ₂ᵗ / (1 − ρ₂ᵗ)
    if ρ_t > 5:   r_t = √((ρ_t − 4)(ρ_t − 2) ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2) ρ_t))
                  Δθ = −ε r_t √(1 − ρ₂ᵗ) / (1 − ρ₁ᵗ) · s / (√r + δ)
    else:         Δθ = −ε s / (1 − ρ₁ᵗ)      (momentum SGD while the variance is intractable)

ρ_t is the length of the simple moving average that the exponential average r
approximates; with few samples the variance of the adaptive step 1/√r̂ is unbounded, and
r_t scales it to that of its limit.

Warning:
    The paper switches to the adaptive step when ρ_t > 4 and has no δ; this module, like
    torch.optim's RAdam, uses ρ_t > 5 (so one more step, the fifth with ρ₂ = 0.999, is
    plain momentum) and adds δ to √r outside the bias correction. Keras has no RAdam; the
    default learning rate 1e-3 is the paper's and torch.optim's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from deepdescent.optimizers.base import (
    LearningRate,
    Optimizer,
    Params,
    check_betas,
    resolve_learning_rate,
)
from deepdescent.optimizers.compiled import Run, addcdiv_
from deepdescent.optimizers.first_order.adam import update_moments
from deepdescent.utils._checks import check_argument

__all__ = ["RAdam", "rectification", "rectified_scalars", "rectified_steps"]

#: ρ_t must exceed this for the adaptive step (torch.optim's choice; the paper's is 4).
TRACTABLE_LENGTH = 5.0


def rectification(step: int, beta2: float) -> float | None:
    """RAdam's variance rectification r_t at step ``step`` ≥ 1, or ``None`` while the
    approximated moving average is too short (ρ_t ≤ 5) for the variance to be tractable."""
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    beta2_t = beta2**step
    rho_t = rho_inf - 2.0 * step * beta2_t / (1.0 - beta2_t)
    if rho_t <= TRACTABLE_LENGTH:
        return None
    return math.sqrt(
        (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
    )


def rectified_steps(
    params: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    second_moments: list[torch.Tensor],
    coefficients: Sequence[Any],
    scales: Sequence[Any],
    offsets: Sequence[Any],
) -> None:
    """With multi-tensor kernels, ``θ ← θ + c s / (a √r + b)`` for each tensor: the
    adaptive step ``θ ← θ + c s / (√r + δ)`` (a = 1, b = δ) or, before ρ_t > 5, the
    momentum step ``θ ← θ + c s`` (a = 0, b = 1, exactly); shared by RAdam and rectified
    AdaBelief. Tensors whose step counts differ (some skipped a step) may fall on either
    side of the threshold; one expression serves both, so a compiled body does not
    change when the rectification starts.
    """
    denoms = torch._foreach_sqrt(second_moments)
    if not all(isinstance(a, float) and a == 1.0 for a in scales):  # eagerly, skip × 1
        torch._foreach_mul_(denoms, list(scales))
    torch._foreach_add_(denoms, list(offsets))
    addcdiv_(params, exp_avgs, denoms, coefficients)


def rectified_scalars(
    coefficients: Sequence[float], deltas: Sequence[float | None]
) -> dict[str, list[float]]:
    """:func:`rectified_steps`'s scalars from each tensor's coefficient and δ, where a δ
    of ``None`` marks the momentum step."""
    return {
        "coefficients": list(coefficients),
        "scales": [0.0 if delta is None else 1.0 for delta in deltas],
        "offsets": [1.0 if delta is None else delta for delta in deltas],
    }


class RAdam(Optimizer):
    """Rectified Adam (Liu et al. 2020, Algorithm 2), as torch.optim's RAdam.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the learning rate ε, a number or a schedule ``step -> ε`` (``learning_rate``
            is accepted as its Keras name). Default 1e-3.
        betas: (ρ₁, ρ₂), the decay rates of the first and second moments, each in [0, 1).
        eps: δ ≥ 0, added to √r.
        weight_decay, decoupled_weight_decay (``True``: RAdamW), clipvalue, clipnorm,
        global_clipnorm, foreach: see :class:`~deepdescent.optimizers.base.Optimizer`.
        fused: ``True`` compiles the multi-tensor body into one pass, ``None`` does
            for large groups (see :mod:`~deepdescent.optimizers.compiled`).

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.RAdam([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step(); round(w.item(), 6)
        0.8
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        betas = check_betas(betas)
        check_argument("eps", eps, eps >= 0.0, "eps >= 0")
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1e-3),
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _advance(state: dict[str, Any], group: dict[str, Any]) -> tuple[float, bool]:
        """Count the step; return the coefficient of this step and whether it is adaptive:
        ``−ε r_t √(1 − ρ₂ᵗ)/(1 − ρ₁ᵗ)`` of ``s/(√r + δ)``, or ``−ε/(1 − ρ₁ᵗ)`` of ``s``."""
        beta1, beta2 = group["betas"]
        state["step"] += 1
        step = state["step"]
        coefficient = -group["lr"] / (1.0 - beta1**step)
        rect = rectification(step, beta2)
        if rect is None:
            return coefficient, False
        return coefficient * rect * math.sqrt(1.0 - beta2**step), True

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        beta1, beta2 = group["betas"]
        for param, grad in zip(params, grads, strict=True):
            state = self._init_state(param, "exp_avg", "exp_avg_sq")
            coefficient, adaptive = self._advance(state, group)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(grad, 1.0 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
            if adaptive:
                param.addcdiv_(exp_avg, exp_avg_sq.sqrt().add_(group["eps"]), value=coefficient)
            else:
                param.add_(exp_avg, alpha=coefficient)

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        states = [self._init_state(param, "exp_avg", "exp_avg_sq") for param in params]
        coefficients, adaptive = zip(
            *(self._advance(state, group) for state in states), strict=True
        )
        deltas = [group["eps"] if flag else None for flag in adaptive]
        run(
            _radam_pass,
            (params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]),
            rectified_scalars(coefficients, deltas),
            {"betas": group["betas"]},
        )


def _radam_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    *,
    coefficients: list[Any],
    scales: list[Any],
    offsets: list[Any],
    betas: tuple[float, float],
) -> None:
    """RAdam's step over lists of tensors (the scalars of :func:`rectified_scalars`)."""
    update_moments(exp_avgs, exp_avg_sqs, grads, betas)
    rectified_steps(params, exp_avgs, exp_avg_sqs, coefficients, scales, offsets)
