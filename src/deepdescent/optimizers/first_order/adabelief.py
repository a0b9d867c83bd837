r"""AdaBelief: Adam whose step is scaled by the belief in the observed gradient.

Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
Gradients", NeurIPS 2020, Algorithm 2, in the book's notation for Adam (Algorithm 8.7: ε
the learning rate, ρ₁, ρ₂ the decay rates ``betas``, δ the small constant ``eps``). At
step t, with ĝ the gradient::

    s ← ρ₁ s + (1 − ρ₁) ĝ
    r ← ρ₂ r + (1 − ρ₂) (ĝ − s) ⊙ (ĝ − s) + δ
    ŝ = s / (1 − ρ₁ᵗ)      r̂ = r / (1 − ρ₂ᵗ)
    Δθ = −ε ŝ / (√r̂ + δ)

r tracks the variance of ĝ around its prediction s rather than ĝ's raw second moment:
where the gradient agrees with its running mean (the "belief") the step is large, where
it deviates the step is small. δ enters twice, as in the paper: added to r at every step
and to √r̂.

With ``rectify=True`` the step is rectified as in RAdam (Liu et al. 2020; see
:mod:`deepdescent.optimizers.first_order.radam`): ``Δθ = −ε r_t ŝ/(√r̂ + δ)`` while ρ_t > 5, and the
momentum step ``Δθ = −ε ŝ`` before. This is the option of the authors' released code, not
part of Algorithm 2, and off by default.

Warning:
    Keras and torch.optim have no AdaBelief. The defaults are the paper's ``lr=1e-3`` and
    betas, and ``eps=1e-16``, the authors' released default (δ is summed into r at every
    step, so it needs to be far smaller than Adam's 1e-8). Their code's rectified branch
    divides by √r + δ and multiplies by √(1 − ρ₂ᵗ), a different δ placement from the
    one above, which keeps Algorithm 2's denominator. float16 cannot hold δ = 1e-16: where
    (1 − ρ₂)(ĝ − s)² underflows, r is 0 and the step divides by zero; keep such parameters
    in bfloat16 or float32, or raise δ above float16's 6e-8.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from deepdescent.optimizers.base import (
    LearningRate,
    Optimizer,
    Params,
    check_betas,
    resolve_learning_rate,
)
from deepdescent.optimizers.compiled import Run
from deepdescent.optimizers.first_order.radam import (
    rectification,
    rectified_scalars,
    rectified_steps,
)
from deepdescent.utils._checks import check_argument

__all__ = ["AdaBelief"]


class AdaBelief(Optimizer):
    """AdaBelief (Zhuang et al. 2020, Algorithm 2), optionally rectified as RAdam.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the learning rate ε, a number or a schedule ``step -> ε`` (``learning_rate``
            is accepted as its Keras name). Default 1e-3, as the paper.
        betas: (ρ₁, ρ₂), the decay rates of the first moment and of the belief r.
        eps: δ ≥ 0, added to r at every step and to √r̂.
        rectify: RAdam's rectification of the adaptive step (off in Algorithm 2).
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm,
        foreach: see :class:`~deepdescent.optimizers.base.Optimizer`.
        fused: ``True`` compiles the multi-tensor body into one pass, ``None`` does
            for large groups (see :mod:`~deepdescent.optimizers.compiled`).

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.AdaBelief([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step(); round(w.item(), 6)
        0.888889
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-16,
        weight_decay: float = 0.0,
        *,
        rectify: bool = False,
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
            "rectify": rectify,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _advance(state: dict[str, Any], group: dict[str, Any]) -> tuple[float, float | None]:
        """Count the step; return the coefficient of this step and √(1 − ρ₂ᵗ):
        ``−ε r_t/(1 − ρ₁ᵗ)`` of ``s/(√r̂ + δ)`` (r_t = 1 unrectified), or, before the
        rectified variance is tractable, ``−ε/(1 − ρ₁ᵗ)`` of ``s`` and ``None``."""
        beta1, beta2 = group["betas"]
        state["step"] += 1
        step = state["step"]
        coefficient = -group["lr"] / (1.0 - beta1**step)
        rect = rectification(step, beta2) if group["rectify"] else 1.0
        if rect is None:
            return coefficient, None
        return coefficient * rect, math.sqrt(1.0 - beta2**step)

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        for param, grad in zip(params, grads, strict=True):
            state = self._init_state(param, "exp_avg", "exp_avg_var")
            coefficient, bias_root = self._advance(state, group)
            exp_avg, exp_avg_var = state["exp_avg"], state["exp_avg_var"]
            exp_avg.lerp_(grad, 1.0 - beta1)
            residual = grad - exp_avg
            exp_avg_var.mul_(beta2).addcmul_(residual, residual, value=1.0 - beta2).add_(eps)
            if bias_root is None:
                param.add_(exp_avg, alpha=coefficient)
            else:
                denom = exp_avg_var.sqrt().div_(bias_root).add_(eps)
                param.addcdiv_(exp_avg, denom, value=coefficient)

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        eps = group["eps"]
        states = [self._init_state(param, "exp_avg", "exp_avg_var") for param in params]
        coefficients, bias_roots = zip(
            *(self._advance(state, group) for state in states), strict=True
        )
        # √(r/(1 − ρ₂ᵗ)) + δ = (√r + δ√(1 − ρ₂ᵗ)) / √(1 − ρ₂ᵗ): one pass fewer. Before the
        # rectified variance is tractable (no root) the step is momentum only.
        deltas = [None if root is None else eps * root for root in bias_roots]
        scaled = [
            c if root is None else c * root
            for c, root in zip(coefficients, bias_roots, strict=True)
        ]
        run(
            _adabelief_pass,
            (params, grads, [s["exp_avg"] for s in states], [s["exp_avg_var"] for s in states]),
            rectified_scalars(scaled, deltas),
            {"betas": group["betas"], "eps": eps},
        )


def _adabelief_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_vars: list[torch.Tensor],
    *,
    coefficients: list[Any],
    scales: list[Any],
    offsets: list[Any],
    betas: tuple[float, float],
    eps: float,
) -> None:
    """AdaBelief's step over lists of tensors (the scalars of :func:`rectified_scalars`)."""
    beta1, beta2 = betas
    torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
    residuals = torch._foreach_sub(grads, exp_avgs)
    torch._foreach_mul_(exp_avg_vars, beta2)
    torch._foreach_addcmul_(exp_avg_vars, residuals, residuals, 1.0 - beta2)
    torch._foreach_add_(exp_avg_vars, eps)
    rectified_steps(params, exp_avgs, exp_avg_vars, coefficients, scales, offsets)
