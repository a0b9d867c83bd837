r"""AdaDelta: a per-coordinate step whose units are those of θ.

Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701 (2012), Algorithm 1,
with ρ the decay rate ``rho``, ε the constant ``eps`` and g the gradient, and
``RMS[y] = √(E[y²] + ε)``::

    E[g²] ← ρ E[g²] + (1 − ρ) g²
    Δx = −(RMS[Δx]_{t−1} / RMS[g]_t) g
    E[Δx²] ← ρ E[Δx²] + (1 − ρ) Δx²
    θ ← θ + η Δx

The ratio of the two RMS values approximates the inverse Hessian's diagonal (Zeiler's
section 3.2), so Δx carries the units of θ. η (``lr``) is torch.optim's and Keras's
addition; the paper's algorithm is η = 1, and E[Δx²] accumulates the unscaled Δx either way.

Warning:
    The default ``lr`` here is 1.0: Zeiler's algorithm, and torch.optim's default. Keras's
    default is 1e-3, which makes AdaDelta a thousand times slower; pass ``lr=1e-3`` for it.
    ``rho=0.9`` and ``eps=1e-6`` are torch.optim's defaults; Keras uses ``rho=0.95``
    (the paper's experiments) and ``eps=1e-7``. All three place ε alike.
"""

from __future__ import annotations

from typing import Any

import torch

from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.compiled import Run, add_
from deepdescent.utils._checks import check_argument

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """AdaDelta (Zeiler 2012, Algorithm 1), as torch.optim's Adadelta.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: η, a number or a schedule ``step -> η`` (``learning_rate`` is accepted as its
            Keras name). Default 1.0, the paper's algorithm (Keras: 1e-3).
        rho: the decay rate ρ in [0, 1].
        eps: ε > 0 inside both RMS (with ε = 0 the first Δx is 0 and θ never moves).
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm,
        foreach: see :class:`~deepdescent.optimizers.base.Optimizer`.
        fused: ``True`` compiles the multi-tensor body into one pass, ``None`` does
            for large groups (see :mod:`~deepdescent.optimizers.compiled`).

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        >>> opt = deepdescent.optimizers.Adadelta([w], lr=1.0, eps=1e-4)
        >>> (w ** 2).sum().backward(); _ = opt.step(); round(w.item(), 6)
        0.968381
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument("rho", rho, 0.0 <= rho <= 1.0, "0 <= rho <= 1")
        check_argument("eps", eps, eps > 0.0, "eps > 0")
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1.0),
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        rho, eps = group["rho"], group["eps"]
        for param, grad in zip(params, grads, strict=True):
            state = self._init_state(param, "square_avg", "acc_delta", step=False)
            square_avg, acc_delta = state["square_avg"], state["acc_delta"]
            square_avg.mul_(rho).addcmul_(grad, grad, value=1.0 - rho)
            rms_grad = square_avg.add(eps).sqrt_()
            delta = acc_delta.add(eps).sqrt_().div_(rms_grad).mul_(grad)
            acc_delta.mul_(rho).addcmul_(delta, delta, value=1.0 - rho)
            param.add_(delta, alpha=-group["lr"])

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        states = [self._init_state(p, "square_avg", "acc_delta", step=False) for p in params]
        run(
            _adadelta_pass,
            (params, grads, [s["square_avg"] for s in states], [s["acc_delta"] for s in states]),
            {"lr": group["lr"]},
            {"rho": group["rho"], "eps": group["eps"]},
        )


def _adadelta_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    square_avgs: list[torch.Tensor],
    acc_deltas: list[torch.Tensor],
    *,
    lr: Any,
    rho: float,
    eps: float,
) -> None:
    """AdaDelta's step over lists of tensors."""
    torch._foreach_mul_(square_avgs, rho)
    torch._foreach_addcmul_(square_avgs, grads, grads, 1.0 - rho)
    rms_grads = torch._foreach_add(square_avgs, eps)
    torch._foreach_sqrt_(rms_grads)
    deltas = torch._foreach_add(acc_deltas, eps)
    torch._foreach_sqrt_(deltas)
    torch._foreach_div_(deltas, rms_grads)
    torch._foreach_mul_(deltas, grads)
    torch._foreach_mul_(acc_deltas, rho)
    torch._foreach_addcmul_(acc_deltas, deltas, deltas, 1.0 - rho)
    add_(params, list(deltas), -lr)
