r"""Adamax: Adam with the infinity norm in place of the second moment.

Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, section 7.1,
Algorithm 2, in the book's notation for Adam (Algorithm 8.7: ε the learning rate, ρ₁, ρ₂
the decay rates ``betas``, δ the small constant ``eps``). At step t, with ĝ the gradient::

    s ← ρ₁ s + (1 − ρ₁) ĝ
    u ← max(ρ₂ u, |ĝ| + δ)
    Δθ = −ε / (1 − ρ₁ᵗ) · s / u

u is the limit p → ∞ of the exponentially weighted p-norm of past gradients; it needs no
bias correction, and |Δθ| ≤ ε / (1 − ρ₁ᵗ) elementwise.

Warning:
    The paper has no δ. torch.optim adds it inside the max, as above (the default);
    Keras adds it to the denominator, ``u ← max(ρ₂ u, |ĝ|);  Δθ = −ε/(1 − ρ₁ᵗ) · s/(u + δ)``,
    which ``eps_in_max=False`` selects. Keras's defaults are ``lr=1e-3`` (used here) and
    ``eps=1e-7``; torch.optim's ``lr`` is the paper's 2e-3.
"""

from __future__ import annotations

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
from deepdescent.utils._checks import check_argument

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, section 7.1), as torch.optim's Adamax by default.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the learning rate ε, a number or a schedule ``step -> ε`` (``learning_rate``
            is accepted as its Keras name). Default 1e-3, as Keras.
        betas: (ρ₁, ρ₂), the decay rates of the first moment and the infinity norm.
        eps: δ ≥ 0.
        eps_in_max: ``True`` (torch.optim) adds δ to |ĝ| inside the max; ``False`` (Keras)
            adds δ to u in the denominator.
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm,
        foreach: see :class:`~deepdescent.optimizers.base.Optimizer`.
        fused: ``True`` compiles the multi-tensor body into one pass, ``None`` does
            for large groups (see :mod:`~deepdescent.optimizers.compiled`).

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.Adamax([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step(); round(w.item(), 6)
        0.9
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        eps_in_max: bool = True,
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
            "eps_in_max": eps_in_max,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _advance(state: dict[str, Any], group: dict[str, Any]) -> float:
        """Count the step; return the step's coefficient ``−ε/(1 − ρ₁ᵗ)``."""
        state["step"] += 1
        return -group["lr"] / (1.0 - group["betas"][0] ** state["step"])

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        beta1, beta2 = group["betas"]
        eps, eps_in_max = group["eps"], group["eps_in_max"]
        for param, grad in zip(params, grads, strict=True):
            state = self._init_state(param, "exp_avg", "exp_inf")
            coefficient = self._advance(state, group)
            exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
            exp_avg.lerp_(grad, 1.0 - beta1)
            magnitude = grad.abs().add_(eps) if eps_in_max else grad.abs()
            torch.maximum(exp_inf.mul_(beta2), magnitude, out=exp_inf)
            denom = exp_inf if eps_in_max else exp_inf.add(eps)
            param.addcdiv_(exp_avg, denom, value=coefficient)

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        states = [self._init_state(param, "exp_avg", "exp_inf") for param in params]
        run(
            _adamax_pass,
            (params, grads, [s["exp_avg"] for s in states], [s["exp_inf"] for s in states]),
            {"coefficients": [self._advance(state, group) for state in states]},
            {k: group[k] for k in ("betas", "eps", "eps_in_max")},
        )


def _adamax_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_infs: list[torch.Tensor],
    *,
    coefficients: list[Any],
    betas: tuple[float, float],
    eps: float,
    eps_in_max: bool,
) -> None:
    """Adamax's step over lists of tensors, ``θ ← θ + c s / u`` with each tensor's c."""
    beta1, beta2 = betas
    torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
    torch._foreach_mul_(exp_infs, beta2)
    magnitudes = torch._foreach_abs(grads)
    if eps_in_max:
        torch._foreach_add_(magnitudes, eps)
    torch._foreach_maximum_(exp_infs, magnitudes)
    denoms = exp_infs if eps_in_max else torch._foreach_add(exp_infs, eps)
    addcdiv_(params, exp_avgs, denoms, coefficients)
