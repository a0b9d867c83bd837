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
(:mod:`deepdescent.optimizers.lars`) applied to Adam's update. Where φ(‖x‖) or ‖r + λx‖
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

from typing import Any

import torch

from deepdescent.optimizers.base import (
    LearningRate,
    Optimizer,
    Params,
    check_hyperparameter,
    resolve_learning_rate,
)
from deepdescent.optimizers.lars import _trust_ratio

__all__ = ["Lamb"]


def _check_betas(name: str, betas: Any) -> None:
    ok = (
        isinstance(betas, (tuple, list))
        and len(betas) == 2
        and all(isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in betas)
    )
    check_hyperparameter(name, betas, ok, "a pair (β₁, β₂), each in [0, 1)")


def _adam_state(state: dict[str, Any], param: torch.Tensor) -> dict[str, Any]:
    """The step count and Adam's two moments of ``param``, created lazily (zeros)."""
    if "exp_avg" not in state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    return state


def _adam_direction(
    state: dict[str, Any], grad: torch.Tensor, betas: tuple[float, float], eps: float
) -> torch.Tensor:
    """Advance the moments in ``state`` by ``grad``; return ``r = m̂ / (√v̂ + ε)`` (new)."""
    beta1, beta2 = betas
    state["step"] += 1
    t = state["step"]
    state["exp_avg"].lerp_(grad, 1 - beta1)
    state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denom = state["exp_avg_sq"].div(1 - beta2**t).sqrt_().add_(eps)
    return state["exp_avg"].div(1 - beta1**t).div_(denom)


def _adam_directions(
    states: list[dict[str, Any]],
    grads: list[torch.Tensor],
    betas: tuple[float, float],
    eps: float,
) -> list[torch.Tensor]:
    """:func:`_adam_direction` for many tensors with multi-tensor kernels."""
    beta1, beta2 = betas
    for state in states:
        state["step"] += 1
    firsts = [s["exp_avg"] for s in states]
    seconds = [s["exp_avg_sq"] for s in states]
    torch._foreach_lerp_(firsts, grads, 1 - beta1)
    torch._foreach_mul_(seconds, beta2)
    torch._foreach_addcmul_(seconds, grads, grads, value=1 - beta2)
    denoms = torch._foreach_div(seconds, [1 - beta2 ** s["step"] for s in states])
    torch._foreach_sqrt_(denoms)
    torch._foreach_add_(denoms, eps)
    directions = list(torch._foreach_div(firsts, [1 - beta1 ** s["step"] for s in states]))
    torch._foreach_div_(directions, denoms)
    return directions


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
        _check_betas("betas", betas)
        check_hyperparameter("eps", eps, eps >= 0, "eps >= 0")
        if weight_norm_bounds is not None:
            ok = (
                isinstance(weight_norm_bounds, (tuple, list))
                and len(weight_norm_bounds) == 2
                and 0 <= weight_norm_bounds[0] <= weight_norm_bounds[1]
            )
            check_hyperparameter(
                "weight_norm_bounds", weight_norm_bounds, ok, "None or (γ_l, γ_u), 0 <= γ_l <= γ_u"
            )
            weight_norm_bounds = (float(weight_norm_bounds[0]), float(weight_norm_bounds[1]))
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.001),
            "betas": (float(betas[0]), float(betas[1])),
            "eps": eps,
            "weight_decay": weight_decay,
            "weight_norm_bounds": weight_norm_bounds,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _apply_weight_decay(
        group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Decoupled λx belongs inside the trust ratio: :meth:`_update_loop` adds it."""
        if group["decoupled_weight_decay"]:
            return grads
        return Optimizer._apply_weight_decay(group, params, grads)

    @staticmethod
    def _phi(weight_norm: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        bounds = group["weight_norm_bounds"]
        return weight_norm if bounds is None else weight_norm.clamp(bounds[0], bounds[1])

    @staticmethod
    def _decay(group: dict[str, Any]) -> float:
        return group["weight_decay"] if group["decoupled_weight_decay"] else 0.0

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        decay = self._decay(group)
        for param, grad in zip(params, grads, strict=True):
            state = _adam_state(self.state[param], param)
            direction = _adam_direction(state, grad, group["betas"], group["eps"])
            if decay:
                direction.add_(param, alpha=decay)
            ratio = _trust_ratio(
                self._phi(torch.linalg.vector_norm(param), group),
                torch.linalg.vector_norm(direction),
            )
            param.sub_(direction.mul_(group["lr"] * ratio))

    def _update_foreach(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        decay = self._decay(group)
        states = [_adam_state(self.state[p], p) for p in params]
        directions = _adam_directions(states, grads, group["betas"], group["eps"])
        if decay:
            torch._foreach_add_(directions, params, alpha=decay)
        ratios = _trust_ratio(
            self._phi(torch.stack(torch._foreach_norm(params)), group),
            torch.stack(torch._foreach_norm(directions)),
        )
        torch._foreach_mul_(directions, (group["lr"] * ratios).unbind())
        torch._foreach_sub_(params, directions)
