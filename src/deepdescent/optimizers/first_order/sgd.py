r"""Stochastic gradient descent, with classical or Nesterov momentum.

Goodfellow, Bengio & Courville, *Deep Learning* (2016), section 8.3:

* Algorithm 8.1, SGD: ``θ ← θ − ε g`` with ``g`` the minibatch gradient.
* Algorithm 8.2, momentum (Polyak 1964): ``v ← α v − ε g;  θ ← θ + v``.
* Algorithm 8.3, Nesterov momentum (Sutskever et al. 2013): the gradient is taken at the
  look-ahead point, ``g = ∇J(θ + α v);  v ← α v − ε g;  θ ← θ + v``.

Stored form. With a buffer ``b`` (``v = −ε b`` while ε is constant) the update is, as in
torch.optim, ``b ← α b + (1 − τ) g;  θ ← θ − ε b`` (τ = ``dampening``, 0 in the book),
and for Nesterov the parameters kept are the look-ahead point ``θ̃ = θ + α v``, for which
the book's update becomes ``b ← α b + g;  θ̃ ← θ̃ − ε (g + α b)`` with ``g = ∇J(θ̃)``
(the reformulation of Bengio et al. 2013). So ``nesterov=True`` stores and returns θ̃,
the point where the next gradient is evaluated.

Warning:
    The book (and Keras) accumulate ``v`` in units of ``ε g``; torch.optim accumulates
    ``b`` in units of ``g`` and multiplies by the *current* ε. The two are the same while ε
    is constant; under a changing learning rate the torch form rescales past momentum at
    once. deepdescent follows torch's form, which its fused kernel implements.
    torch.optim's default ``lr`` is 1e-3; here it is Keras's 0.01.
"""

from __future__ import annotations

from typing import Any, cast

import torch

from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.utils._checks import check_argument

__all__ = ["SGD"]


class SGD(Optimizer):
    """Minibatch SGD (Algorithm 8.1), with momentum (8.2) or Nesterov momentum (8.3).

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the learning rate ε, a number or a schedule ``step -> ε`` (``learning_rate``
            is accepted as its Keras name). Default 0.01, as Keras.
        momentum: α in [0, 1).
        dampening: τ, scales the new gradient in the buffer by ``1 − τ`` (torch.optim's).
        nesterov: Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm,
        foreach, fused: see :class:`~deepdescent.optimizers.base.Optimizer`.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.SGD([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step(); round(w.item(), 6)
        0.8
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument("momentum", momentum, 0.0 <= momentum < 1.0, "0 <= momentum < 1")
        check_argument("dampening", dampening, 0.0 <= dampening <= 1.0, "0 <= dampening <= 1")
        check_argument(
            "nesterov",
            nesterov,
            not nesterov or (momentum > 0 and dampening == 0),
            "nesterov=True only with momentum > 0 and dampening == 0",
        )
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.01),
            "momentum": momentum,
            "dampening": dampening,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def _buffers(self, params: list[torch.Tensor]) -> list[torch.Tensor] | None:
        """The momentum buffers, or ``None`` before the first momentum step."""
        buffers = [self.state[p].get("momentum_buffer") for p in params]
        return None if any(b is None for b in buffers) else cast(list[torch.Tensor], buffers)

    def _new_buffers(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """Uninitialised buffers; the fused kernel's first step fills them with g."""
        buffers = [torch.empty_like(p) for p in params]
        for param, buffer in zip(params, buffers, strict=True):
            self.state[param]["momentum_buffer"] = buffer
        return buffers

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        lr, momentum = group["lr"], group["momentum"]
        for param, grad in zip(params, grads, strict=True):
            step = grad
            if momentum != 0:
                state = self.state[param]
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    buffer = state["momentum_buffer"] = grad.detach().clone()
                else:
                    buffer.mul_(momentum).add_(grad, alpha=1.0 - group["dampening"])
                step = grad.add(buffer, alpha=momentum) if group["nesterov"] else buffer
            param.add_(step, alpha=-lr)

    def _update_foreach(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        lr, momentum = group["lr"], group["momentum"]
        if momentum == 0:
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        buffers = self._buffers(params)
        if buffers is None:
            self._update_loop(group, params, grads)
            return
        torch._foreach_mul_(buffers, momentum)
        torch._foreach_add_(buffers, grads, alpha=1.0 - group["dampening"])
        steps = torch._foreach_add(grads, buffers, alpha=momentum) if group["nesterov"] else buffers
        torch._foreach_add_(params, steps, alpha=-lr)

    def _update_fused(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        momentum = group["momentum"]
        buffers: list[torch.Tensor] = []
        first_step = False
        if momentum != 0:
            existing = self._buffers(params)
            first_step = existing is None
            buffers = existing if existing is not None else self._new_buffers(params)
        torch._fused_sgd_(
            params,
            grads,
            buffers,
            weight_decay=0.0,
            momentum=momentum,
            lr=group["lr"],
            dampening=group["dampening"],
            nesterov=group["nesterov"],
            maximize=False,
            is_first_step=first_step,
        )
