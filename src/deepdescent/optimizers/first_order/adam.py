r"""Adam: momentum on the first moment, RMSProp on the second, both bias-corrected.

Goodfellow, Bengio & Courville, *Deep Learning* (2016), section 8.5.3, Algorithm 8.7
(Kingma & Ba 2015)::

    t ← t + 1
    s ← ρ₁ s + (1 − ρ₁) g                 (s, r start at 0)
    r ← ρ₂ r + (1 − ρ₂) g ⊙ g
    ŝ ← s / (1 − ρ₁ᵗ);   r̂ ← r / (1 − ρ₂ᵗ)
    Δθ = −ε ŝ / (√r̂ + δ);   θ ← θ + Δθ

with the book's suggested defaults ε = 0.001, ρ₁ = 0.9, ρ₂ = 0.999, δ = 1e-8 (torch.optim's
names: ``lr``, ``betas = (ρ₁, ρ₂)``, ``eps``). Each parameter counts its own t (a parameter
without a gradient is not stepped).

``amsgrad=True`` (Reddi, Kale & Kumar 2018), as torch.optim and Keras write it, divides by
the running maximum of r instead of r, still bias-corrected: ``r_max ← max(r_max, r)``,
``r̂ ← r_max / (1 − ρ₂ᵗ)``. :class:`AdamW` is Adam with decoupled weight decay
(Loshchilov & Hutter 2019): ``θ ← θ − ελθ`` before the step, λ = 0.01 by default.

Warning:
    torch.optim implements the book's form and defaults. Keras 3 uses ``epsilon=1e-7`` as
    Kingma & Ba's ε̂ (their section 2, before 2.1): ``Δθ = −ε √(1 − ρ₂ᵗ)/(1 − ρ₁ᵗ) ·
    s/(√r + ε̂)``, the same as the book's with ``δ = ε̂/√(1 − ρ₂ᵗ)``; it also counts t
    globally, not per parameter. ``eps_hat=True`` gives that form (``Adam(eps=1e-7,
    eps_hat=True)`` is Keras's Adam); it runs on the multi-tensor body, the book's form on
    torch's fused kernels (``torch._fused_adam_``, ``torch._fused_adamw_``, which also apply
    the weight decay in their single pass). Keras's AdamW default λ is 0.004; here it is
    torch.optim's 0.01.
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
    step_tensors,
)
from deepdescent.utils._checks import check_argument

__all__ = [
    "Adam",
    "AdamW",
    "adam_direction",
    "adam_directions",
    "bias_corrections",
    "directions_of_moments",
    "moment_directions",
    "update_moments",
]


def update_moments(
    firsts: list[torch.Tensor],
    seconds: list[torch.Tensor],
    grads: list[torch.Tensor],
    betas: tuple[float, float],
) -> None:
    """Adam's moment estimates, in place with multi-tensor kernels (NAdam, RAdam and LAMB
    keep the same two): ``s ← ρ₁ s + (1 − ρ₁) g;  r ← ρ₂ r + (1 − ρ₂) g ⊙ g``."""
    beta1, beta2 = betas
    torch._foreach_lerp_(firsts, grads, 1 - beta1)
    torch._foreach_mul_(seconds, beta2)
    torch._foreach_addcmul_(seconds, grads, grads, value=1 - beta2)


def adam_direction(
    state: dict[str, Any], grad: torch.Tensor, betas: tuple[float, float], eps: float
) -> torch.Tensor:
    """Count the step and advance the moments in ``state`` (``step``, ``exp_avg``,
    ``exp_avg_sq``) by ``grad``; return Adam's direction ``ŝ / (√r̂ + δ)`` as a new tensor
    (LAMB rescales it, Muon's AdamW fallback steps along it)."""
    beta1, beta2 = betas
    state["step"] += 1
    t = state["step"]
    state["exp_avg"].lerp_(grad, 1 - beta1)
    state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denom = state["exp_avg_sq"].div(1 - beta2**t).sqrt_().add_(eps)
    return state["exp_avg"].div(1 - beta1**t).div_(denom)


def adam_directions(
    states: list[dict[str, Any]],
    grads: list[torch.Tensor],
    betas: tuple[float, float],
    eps: float,
) -> list[torch.Tensor]:
    """:func:`adam_direction` for many tensors with multi-tensor kernels."""
    for state in states:
        state["step"] += 1
    return moment_directions(
        [s["exp_avg"] for s in states],
        [s["exp_avg_sq"] for s in states],
        grads,
        **bias_corrections([s["step"] for s in states], betas),
        betas=betas,
        eps=eps,
    )


def bias_corrections(steps: list[int], betas: tuple[float, float]) -> dict[str, list[float]]:
    """Each tensor's bias corrections ``1 − ρ₁ᵗ`` and ``1 − ρ₂ᵗ`` (Python floats), as
    :func:`moment_directions` takes them."""
    beta1, beta2 = betas
    return {
        "first_corrections": [1 - beta1**t for t in steps],
        "second_corrections": [1 - beta2**t for t in steps],
    }


def moment_directions(
    firsts: list[torch.Tensor],
    seconds: list[torch.Tensor],
    grads: list[torch.Tensor],
    first_corrections: list[Any],
    second_corrections: list[Any],
    *,
    betas: tuple[float, float],
    eps: float,
) -> list[torch.Tensor]:
    """Advance the moments by ``grads`` and return Adam's directions ``ŝ / (√r̂ + δ)`` as
    new tensors; the bias corrections (:func:`bias_corrections`) are Python floats or,
    in a compiled body, 0-d tensors."""
    update_moments(firsts, seconds, grads, betas)
    return directions_of_moments(firsts, seconds, first_corrections, second_corrections, eps)


def directions_of_moments(
    firsts: list[torch.Tensor],
    seconds: list[torch.Tensor],
    first_corrections: list[Any],
    second_corrections: list[Any],
    eps: float,
) -> list[torch.Tensor]:
    """Adam's directions ``ŝ / (√r̂ + δ)`` of the (advanced) moments, as new tensors."""
    denoms = torch._foreach_div(seconds, second_corrections)
    torch._foreach_sqrt_(denoms)
    torch._foreach_add_(denoms, eps)
    directions = list(torch._foreach_div(firsts, first_corrections))
    torch._foreach_div_(directions, denoms)
    return directions


class Adam(Optimizer):
    """Adam (Algorithm 8.7), with AMSGrad as a flag.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the step size ε, a number or a schedule ``step -> ε`` (``learning_rate`` is
            accepted as its Keras name). Default 0.001 (the book, Keras, torch.optim).
        betas: the decay rates (ρ₁, ρ₂) of the moment estimates, each in [0, 1).
        eps: δ, default 1e-8 as the book suggests.
        amsgrad: divide by the running maximum of the second moment.
        weight_decay: λ; coupled (L2, added to g) unless ``decoupled_weight_decay``.
        eps_hat: treat ``eps`` as Kingma & Ba's ε̂, added to √r before the bias correction
            (Keras's convention).
        decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm, foreach, fused: see
            :class:`~deepdescent.optimizers.base.Optimizer`.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.Adam([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step(); round(w.item(), 6)
        0.9
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        amsgrad: bool = False,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        eps_hat: bool = False,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        betas = check_betas(betas)
        check_argument("eps", eps, eps >= 0, "eps >= 0")
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.001),
            "betas": betas,
            "eps": eps,
            "amsgrad": amsgrad,
            "weight_decay": weight_decay,
            "eps_hat": eps_hat,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def _moments(self, group: dict[str, Any], params: list[torch.Tensor]) -> tuple[list, ...]:
        """s, r, r_max (AMSGrad only, else empty), created lazily as zeros, and each
        parameter's step count t, incremented."""
        firsts, seconds, maxima, steps = [], [], [], []
        amsgrad = ["max_exp_avg_sq"] if group["amsgrad"] else []
        for param in params:
            state = self._init_state(param, "exp_avg", "exp_avg_sq", *amsgrad)
            state["step"] += 1
            firsts.append(state["exp_avg"])
            seconds.append(state["exp_avg_sq"])
            maxima += [state["max_exp_avg_sq"]] if group["amsgrad"] else []
            steps.append(state["step"])
        return firsts, seconds, maxima, steps

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        lr, (rho1, rho2), eps = group["lr"], group["betas"], group["eps"]
        firsts, seconds, maxima, steps = self._moments(group, params)
        for i, (param, grad, s, r, t) in enumerate(
            zip(params, grads, firsts, seconds, steps, strict=True)
        ):
            s.lerp_(grad, 1 - rho1)
            r.mul_(rho2).addcmul_(grad, grad, value=1 - rho2)
            if group["amsgrad"]:
                r = torch.maximum(maxima[i], r, out=maxima[i])
            if group["eps_hat"]:
                step_size = lr * math.sqrt(1 - rho2**t) / (1 - rho1**t)
                param.addcdiv_(s, r.sqrt().add_(eps), value=-step_size)
            else:
                s_hat, r_hat = s / (1 - rho1**t), r / (1 - rho2**t)
                param.addcdiv_(s_hat, r_hat.sqrt_().add_(eps), value=-lr)

    def _update_foreach(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        lr, (rho1, rho2), eps = group["lr"], group["betas"], group["eps"]
        firsts, seconds, maxima, steps = self._moments(group, params)
        update_moments(firsts, seconds, grads, (rho1, rho2))
        if group["amsgrad"]:
            torch._foreach_maximum_(maxima, seconds)
            seconds = maxima
        # The book's δ added to √r̂ is δ √(1 − ρ₂ᵗ) added to √r: one pass fewer over memory.
        roots = [math.sqrt(1 - rho2**t) for t in steps]
        deltas = [eps if group["eps_hat"] else eps * root for root in roots]
        denom = torch._foreach_sqrt(seconds)
        torch._foreach_add_(denom, deltas)
        step_sizes = [-lr * root / (1 - rho1**t) for root, t in zip(roots, steps, strict=True)]
        torch._foreach_addcdiv_(params, firsts, denom, step_sizes)

    # -- torch's fused kernels: the book's form, with the weight decay inside ---------

    def _fused_kernel_decays(self, group: dict[str, Any]) -> bool:
        return True  # _fused_adam_ adds λθ to g; _fused_adamw_ decays θ first

    def _fused_applies(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> bool:
        # torch's fused Adam kernels implement the book's ε placement, not ε̂.
        return not group["eps_hat"] and super()._fused_applies(group, params, grads)

    def _update_fused(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        firsts, seconds, maxima, steps = self._moments(group, params)
        kernel = torch._fused_adamw_ if group["decoupled_weight_decay"] else torch._fused_adam_
        kernel(
            params,
            grads,
            firsts,
            seconds,
            maxima,
            step_tensors(steps, params[0].device),
            lr=group["lr"],
            beta1=group["betas"][0],
            beta2=group["betas"][1],
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            amsgrad=group["amsgrad"],
            maximize=False,
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), λ = 0.01 by default:
    ``θ ← θ − ελθ``, then the Adam step. The same as
    ``Adam(weight_decay=λ, decoupled_weight_decay=True)``."""

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        amsgrad: bool = False,
        weight_decay: float = 0.01,
        *,
        decoupled_weight_decay: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            amsgrad,
            weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            **kwargs,
        )
