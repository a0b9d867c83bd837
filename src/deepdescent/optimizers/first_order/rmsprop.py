r"""RMSProp: AdaGrad with an exponentially decaying average of squared gradients.

Goodfellow, Bengio & Courville, *Deep Learning* (2016), section 8.5.2 (Hinton 2012):

* Algorithm 8.5, RMSProp::

      r ← ρ r + (1 − ρ) g ⊙ g            (r starts at 0)
      Δθ = −ε / √(δ + r) ⊙ g             (δ "usually 1e-6")
      θ ← θ + Δθ

* Algorithm 8.6, RMSProp with Nesterov momentum: the gradient is taken at the look-ahead
  point, ``g = ∇J(θ + α v);  r ← ρ r + (1 − ρ) g ⊙ g;  v ← α v − ε/√r ⊙ g;  θ ← θ + v``.
  The book has no δ in 8.6; here δ goes where 8.5 puts it.

``lr`` is ε, ``alpha`` is ρ (torch.optim's name) and ``eps`` is δ. ``momentum`` (α) with
``nesterov=False`` is torch.optim's heavy-ball form, ``v ← α v − ε/√(δ + r) ⊙ g;  θ ← θ + v``.
``centered=True`` (Graves 2013) also averages ``ḡ ← ρ ḡ + (1 − ρ) g`` and divides by
``√(δ + r − ḡ⊙ḡ)``, an estimate of the gradient's standard deviation.

Stored form. As in :mod:`deepdescent.optimizers.first_order.sgd`, the momentum buffer is
kept in units of the scaled gradient, ``b = −v/ε``: ``b ← α b + g/√(δ + r);  θ ← θ − ε b``. With
``nesterov=True`` the parameters kept are the look-ahead point ``θ̃ = θ + α v``, where the
next gradient is evaluated, and the update becomes ``θ̃ ← θ̃ − ε (g/√(δ + r) + α b)`` with
``g = ∇J(θ̃)`` and ``b`` already updated.

Warning:
    δ's place and the defaults differ between the sources:

    ============== ====================== ============== ================
    \              deepdescent            torch.optim    Keras 3
    ============== ====================== ============== ================
    ε (``lr``)     0.001 (Keras)          0.01           0.001
    ρ (``alpha``)  0.9 (Keras, Hinton)    0.99           0.9 (``rho``)
    δ (``eps``)    1e-6 (the book)        1e-8           1e-7
    δ's place      √(δ + r) (book)        √r + δ         √(r + δ)
    ============== ====================== ============== ================

    ``eps_inside_sqrt=False`` gives torch.optim's ``√r + δ``. Keras accumulates its
    momentum in units of ``ε g``, torch.optim and deepdescent in units of ``g`` times the
    *current* ε: the same while ε is constant. torch.optim has no Nesterov form and no fused
    RMSprop kernel; here the multi-tensor body is compiled into one (``fused``, see
    :mod:`~deepdescent.optimizers.compiled`).
"""

from __future__ import annotations

from typing import Any

import torch

from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.compiled import Run, add_, addcdiv_
from deepdescent.utils._checks import check_argument

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSProp (Algorithm 8.5), with momentum or Nesterov momentum (Algorithm 8.6).

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the global learning rate ε, a number or a schedule ``step -> ε``
            (``learning_rate`` is accepted as its Keras name). Default 0.001, as Keras.
        alpha: the decay rate ρ in [0, 1) (Keras's ``rho``). Default 0.9.
        eps: δ, default 1e-6 as the book suggests.
        momentum: α in [0, 1).
        centered: divide by the centred second moment ``r − ḡ⊙ḡ``.
        nesterov: Nesterov momentum (Algorithm 8.6); needs ``momentum > 0``. The
            parameters then hold the look-ahead point θ + αv.
        eps_inside_sqrt: divide by ``√(δ + r)`` (the book, Keras; default) or, when
            ``False``, by ``√r + δ`` (torch.optim).
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm,
        foreach, fused: see :class:`~deepdescent.optimizers.base.Optimizer`.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.RMSprop([w], lr=0.01, alpha=0.75, eps=0.0)
        >>> (w ** 2).sum().backward(); _ = opt.step(); round(w.item(), 6)
        0.98
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        alpha: float = 0.9,
        eps: float = 1e-6,
        momentum: float = 0.0,
        centered: bool = False,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        eps_inside_sqrt: bool = True,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument("alpha", alpha, 0.0 <= alpha < 1.0, "0 <= alpha < 1")
        check_argument("eps", eps, eps >= 0, "eps >= 0")
        check_argument("momentum", momentum, 0.0 <= momentum < 1.0, "0 <= momentum < 1")
        check_argument(
            "nesterov",
            nesterov,
            not nesterov or momentum > 0,
            "nesterov=True only with momentum > 0",
        )
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.001),
            "alpha": alpha,
            "eps": eps,
            "momentum": momentum,
            "centered": centered,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
            "eps_inside_sqrt": eps_inside_sqrt,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def _state_of(self, group: dict[str, Any], param: torch.Tensor) -> dict[str, Any]:
        """r, and ḡ and b where the group needs them, created lazily as zeros."""
        needed = ["square_avg"]
        needed += ["grad_avg"] if group["centered"] else []
        needed += ["momentum_buffer"] if group["momentum"] > 0 else []
        return self._init_state(param, *needed, step=False)

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        for param, grad in zip(params, grads, strict=True):
            state = self._state_of(group, param)
            r = state["square_avg"].mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            if group["centered"]:
                mean = state["grad_avg"].lerp_(grad, 1 - alpha)
                r = r.addcmul(mean, mean, value=-1)
            denom = r.add(eps).sqrt_() if group["eps_inside_sqrt"] else r.sqrt().add_(eps)
            if momentum == 0:
                param.addcdiv_(grad, denom, value=-lr)
                continue
            buffer = state["momentum_buffer"].mul_(momentum).addcdiv_(grad, denom)
            if group["nesterov"]:
                param.addcdiv_(grad, denom, value=-lr).add_(buffer, alpha=-lr * momentum)
            else:
                param.add_(buffer, alpha=-lr)

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        states = [self._state_of(group, p) for p in params]
        run(
            _rmsprop_pass,
            (
                params,
                grads,
                [s["square_avg"] for s in states],
                [s["grad_avg"] for s in states if group["centered"]],
                [s["momentum_buffer"] for s in states if group["momentum"] > 0],
            ),
            {"lr": group["lr"]},
            {k: group[k] for k in ("alpha", "eps", "momentum", "nesterov", "eps_inside_sqrt")},
        )


def _rmsprop_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    squares: list[torch.Tensor],
    means: list[torch.Tensor],
    buffers: list[torch.Tensor],
    *,
    lr: Any,
    alpha: float,
    eps: float,
    momentum: float,
    nesterov: bool,
    eps_inside_sqrt: bool,
) -> None:
    """RMSprop's step over lists of tensors (``means`` empty unless centred, ``buffers``
    empty without momentum)."""
    torch._foreach_mul_(squares, alpha)
    torch._foreach_addcmul_(squares, grads, grads, value=1 - alpha)
    if means:
        torch._foreach_lerp_(means, grads, 1 - alpha)
        second_moments = list(torch._foreach_addcmul(squares, means, means, value=-1))
    else:
        second_moments = squares
    if eps_inside_sqrt:
        denom = torch._foreach_add(second_moments, eps)
        torch._foreach_sqrt_(denom)
    else:
        denom = torch._foreach_sqrt(second_moments)
        torch._foreach_add_(denom, eps)
    if momentum == 0:
        addcdiv_(params, grads, denom, -lr)
        return
    torch._foreach_mul_(buffers, momentum)
    torch._foreach_addcdiv_(buffers, grads, denom)
    if nesterov:
        addcdiv_(params, grads, denom, -lr)
        add_(params, buffers, -lr * momentum)
    else:
        add_(params, buffers, -lr)
