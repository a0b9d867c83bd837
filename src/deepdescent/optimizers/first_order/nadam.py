r"""NAdam: Adam with Nesterov momentum.

Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop, Algorithm 2, in the
form torch.optim implements, written in the book's notation for Adam (Algorithm 8.7: ε the
learning rate, ρ₁, ρ₂ the decay rates ``betas``, δ the small constant ``eps``). The
momentum schedule is ``μ_t = ρ₁ (1 − ½ · 0.96^(t ψ))`` with ψ = ``momentum_decay`` (Dozat's
1/250). At step t, with ĝ the gradient::

    s ← ρ₁ s + (1 − ρ₁) ĝ            r ← ρ₂ r + (1 − ρ₂) ĝ ⊙ ĝ
    s̄ = μ_{t+1} s / (1 − Π_{i≤t+1} μ_i) + (1 − μ_t) ĝ / (1 − Π_{i≤t} μ_i)
    Δθ = −ε s̄ / (√(r / (1 − ρ₂ᵗ)) + δ)

The Nesterov look-ahead is in s̄: the next step's momentum weight μ_{t+1} is applied to
the current moment, and the current gradient enters with its own weight 1 − μ_t.

Warning:
    Keras's Nadam is this update with ``momentum_decay=1.0`` (its schedule is 0.96ᵗ) and
    ``eps=1e-7``; pass those for Keras's iterates. torch.optim's default learning rate is
    2e-3; here it is Keras's 1e-3. ``decoupled_weight_decay=True`` gives NAdamW
    (``θ ← θ − ελθ`` before the step), as torch.optim's flag of the same name.
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
from deepdescent.optimizers.compiled import Run, addcdiv_
from deepdescent.optimizers.first_order.adam import update_moments
from deepdescent.utils._checks import check_argument

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """Nesterov-accelerated Adam (Dozat 2016), as torch.optim's NAdam.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the learning rate ε, a number or a schedule ``step -> ε`` (``learning_rate``
            is accepted as its Keras name). Default 1e-3, as Keras.
        betas: (ρ₁, ρ₂), the decay rates of the first and second moments, each in [0, 1).
        eps: δ ≥ 0, added to the bias-corrected √r.
        momentum_decay: ψ ≥ 0 of the momentum schedule (0.004 as torch.optim; Keras: 1).
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm,
        foreach: see :class:`~deepdescent.optimizers.base.Optimizer`.
        fused: ``True`` compiles the multi-tensor body into one pass, ``None`` does
            for large groups (see :mod:`~deepdescent.optimizers.compiled`).

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.NAdam([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step(); round(w.item(), 6)
        0.894355
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        momentum_decay: float = 4e-3,
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
        check_argument(
            "momentum_decay", momentum_decay, momentum_decay >= 0.0, "momentum_decay >= 0"
        )
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1e-3),
            "betas": betas,
            "eps": eps,
            "momentum_decay": momentum_decay,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def _state(self, param: torch.Tensor) -> dict[str, Any]:
        """t, s and r as Adam's, and the product Π μ_i of the momentum schedule (1 at first)."""
        state = self._init_state(param, "exp_avg", "exp_avg_sq")
        state.setdefault("mu_product", 1.0)
        return state

    @staticmethod
    def _advance(state: dict[str, Any], group: dict[str, Any]) -> tuple[float, float, float]:
        """Count the step and extend Π μ_i; return the coefficients of ĝ and of s in
        ``−ε s̄``, and √(1 − ρ₂ᵗ). Plain Python numbers: no device work, no host sync."""
        beta1, beta2 = group["betas"]
        decay, lr = group["momentum_decay"], group["lr"]
        state["step"] += 1
        step = state["step"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
        state["mu_product"] *= mu
        product = state["mu_product"]
        return (
            -lr * (1.0 - mu) / (1.0 - product),
            -lr * mu_next / (1.0 - product * mu_next),
            math.sqrt(1.0 - beta2**step),
        )

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        beta1, beta2 = group["betas"]
        for param, grad in zip(params, grads, strict=True):
            state = self._state(param)
            grad_weight, moment_weight, bias_root = self._advance(state, group)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(grad, 1.0 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
            denom = exp_avg_sq.sqrt().div_(bias_root).add_(group["eps"])
            param.addcdiv_(grad, denom, value=grad_weight)
            param.addcdiv_(exp_avg, denom, value=moment_weight)

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        states = [self._state(param) for param in params]
        grad_weights, moment_weights, bias_roots = zip(
            *(self._advance(state, group) for state in states), strict=True
        )
        # √(r/(1 − ρ₂ᵗ)) + δ = (√r + δ√(1 − ρ₂ᵗ)) / √(1 − ρ₂ᵗ): one pass fewer over memory.
        run(
            _nadam_pass,
            (params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]),
            {
                "deltas": [group["eps"] * root for root in bias_roots],
                "grad_steps": [w * r for w, r in zip(grad_weights, bias_roots, strict=True)],
                "moment_steps": [w * r for w, r in zip(moment_weights, bias_roots, strict=True)],
            },
            {"betas": group["betas"]},
        )


def _nadam_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    *,
    deltas: list[Any],
    grad_steps: list[Any],
    moment_steps: list[Any],
    betas: tuple[float, float],
) -> None:
    """NAdam's step over lists of tensors: ``θ ← θ + (a ĝ + b s) / (√r + δ')`` with the
    step's weights a, b and δ' of each tensor."""
    update_moments(exp_avgs, exp_avg_sqs, grads, betas)
    denoms = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denoms, deltas)
    addcdiv_(params, grads, denoms, grad_steps)
    addcdiv_(params, exp_avgs, denoms, moment_steps)
