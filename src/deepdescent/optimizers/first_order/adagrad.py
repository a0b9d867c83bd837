r"""AdaGrad: each parameter's learning rate shrinks with its accumulated squared gradients.

Goodfellow, Bengio & Courville, *Deep Learning* (2016), section 8.5.1, Algorithm 8.4
(Duchi, Hazan & Singer 2011)::

    r ← r + g ⊙ g                      (r starts at 0)
    Δθ = −ε / (δ + √r) ⊙ g             (δ "perhaps 1e-7")
    θ ← θ + Δθ

``lr`` is ε and ``eps`` is δ. torch.optim's ``lr_decay`` is kept: the step at count t uses
``ε_t = ε / (1 + (t − 1) · lr_decay)`` (0, the book's constant ε, by default).

Warning:
    Defaults differ between the three sources, and so does δ's place:

    ========================== ================ ============= ===============
    \                          deepdescent      torch.optim   Keras 3
    ========================== ================ ============= ===============
    ε (``lr``)                 0.001 (Keras)    0.01          0.001
    δ (``eps``)                1e-7 (the book)  1e-10         1e-7
    δ's place                  δ + √r (book)    δ + √r        √(r + δ)
    r at the start             0 (the book)     0             0.1
    ========================== ================ ============= ===============

    ``eps_inside_sqrt=True`` gives Keras's ``√(r + δ)``; Keras's Adagrad is
    ``Adagrad(initial_accumulator_value=0.1, eps_inside_sqrt=True)``. On CPU the book's
    form runs on torch's fused kernel (``torch._fused_adagrad_``); Keras's form runs on the
    multi-tensor body.
"""

from __future__ import annotations

from typing import Any

import torch

from deepdescent.optimizers.base import (
    LearningRate,
    Optimizer,
    Params,
    resolve_learning_rate,
    step_tensors,
)
from deepdescent.utils._checks import check_argument

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """AdaGrad (Algorithm 8.4).

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the global learning rate ε, a number or a schedule ``step -> ε``
            (``learning_rate`` is accepted as its Keras name). Default 0.001, as Keras.
        lr_decay: torch.optim's decay of ε with the step count t, ``ε / (1 + (t − 1) d)``.
        initial_accumulator_value: r at the start (0 in the book, 0.1 in Keras).
        eps: δ, default 1e-7 as the book suggests.
        eps_inside_sqrt: divide by ``√(r + δ)`` (Keras) instead of ``δ + √r`` (the book,
            torch.optim).
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm,
        foreach, fused: see :class:`~deepdescent.optimizers.base.Optimizer`.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.Adagrad([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step(); round(w.item(), 6)
        0.9
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        lr_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-7,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        eps_inside_sqrt: bool = False,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument("lr_decay", lr_decay, lr_decay >= 0, "lr_decay >= 0")
        check_argument(
            "initial_accumulator_value",
            initial_accumulator_value,
            initial_accumulator_value >= 0,
            "initial_accumulator_value >= 0",
        )
        check_argument("eps", eps, eps >= 0, "eps >= 0")
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.001),
            "lr_decay": lr_decay,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "eps": eps,
            "eps_inside_sqrt": eps_inside_sqrt,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def _accumulators(
        self, group: dict[str, Any], params: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], list[int]]:
        """Each parameter's r (created lazily) and its step count t, incremented."""
        sums, steps = [], []
        for param in params:
            state = self._init_state(param, fills={"sum": group["initial_accumulator_value"]})
            state["step"] += 1
            sums.append(state["sum"])
            steps.append(state["step"])
        return sums, steps

    @staticmethod
    def _decayed_lr(group: dict[str, Any], step: int) -> float:
        return group["lr"] / (1 + (step - 1) * group["lr_decay"])

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        eps = group["eps"]
        sums, steps = self._accumulators(group, params)
        for param, grad, r, step in zip(params, grads, sums, steps, strict=True):
            r.addcmul_(grad, grad)
            denom = r.add(eps).sqrt_() if group["eps_inside_sqrt"] else r.sqrt().add_(eps)
            param.addcdiv_(grad, denom, value=-self._decayed_lr(group, step))

    def _update_foreach(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        eps = group["eps"]
        sums, steps = self._accumulators(group, params)
        torch._foreach_addcmul_(sums, grads, grads)
        if group["eps_inside_sqrt"]:
            denom = torch._foreach_add(sums, eps)
            torch._foreach_sqrt_(denom)
        else:
            denom = torch._foreach_sqrt(sums)
            torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, grads, denom, [-self._decayed_lr(group, t) for t in steps])

    # -- torch's fused CPU kernel: the book's δ + √r, with coupled weight decay inside --

    def _fused_applies(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> bool:
        # torch ships _fused_adagrad_ for CPU only, with the book's ε placement.
        return (
            params[0].device.type == "cpu"
            and not group["eps_inside_sqrt"]
            and super()._fused_applies(group, params, grads)
        )

    def _fused_kernel_decays(self, group: dict[str, Any]) -> bool:
        return not group["decoupled_weight_decay"]  # the kernel has the coupled form only

    def _update_fused(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        sums, steps = self._accumulators(group, params)
        torch._fused_adagrad_(
            params,
            grads,
            sums,
            step_tensors(steps, params[0].device),
            lr=group["lr"],
            lr_decay=group["lr_decay"],
            weight_decay=0.0 if group["decoupled_weight_decay"] else group["weight_decay"],
            eps=group["eps"],
            maximize=False,
        )
