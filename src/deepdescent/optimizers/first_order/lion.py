r"""Lion: the sign of an interpolated momentum ("EvoLved Sign Momentum").

Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023, Algorithm 2,
with η the learning rate, β₁, β₂ the ``betas``, λ the ``weight_decay`` and g the gradient::

    c ← β₁ m + (1 − β₁) g
    θ ← θ − η (sign(c) + λ θ)
    m ← β₂ m + (1 − β₂) g

Every coordinate moves by exactly η (plus the decay), so η is 3–10 times smaller than
AdamW's and λ as many times larger for the same effective decay ηλ. The update
interpolates with β₁ but the momentum it keeps decays with β₂ (> β₁): a longer memory than
the step uses. One state tensor per parameter, against Adam's two.

The weight decay of Algorithm 2 is decoupled (``decoupled_weight_decay=True`` by default,
``θ ← θ(1 − ηλ)`` before the sign step, which is the same update); ``False`` adds λθ to g.

Warning:
    Defaults are the paper's ``lr=1e-4``, ``betas=(0.9, 0.99)``; Keras's Lion defaults to
    ``learning_rate=1e-3``. torch.optim has no Lion.
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
from deepdescent.optimizers.compiled import Run, add_

__all__ = ["Lion"]


class Lion(Optimizer):
    """Lion (Chen et al. 2023, Algorithm 2).

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the learning rate η, a number or a schedule ``step -> η`` (``learning_rate``
            is accepted as its Keras name). Default 1e-4, as the paper.
        betas: (β₁, β₂), the interpolation weight of the update and the decay rate of
            the momentum, each in [0, 1).
        weight_decay: λ, decoupled by default as in Algorithm 2.
        decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm, foreach: see
            :class:`~deepdescent.optimizers.base.Optimizer`.
        fused: ``True`` compiles the multi-tensor body into one pass, ``None`` does
            for large groups (see :mod:`~deepdescent.optimizers.compiled`).

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = deepdescent.optimizers.Lion([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step(); [round(x, 6) for x in w.tolist()]
        [0.9, -1.9]
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = True,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1e-4),
            "betas": check_betas(betas),
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def _exp_avg(self, param: torch.Tensor) -> torch.Tensor:
        return self._init_state(param, "exp_avg", step=False)["exp_avg"]

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        beta1, beta2 = group["betas"]
        for param, grad in zip(params, grads, strict=True):
            exp_avg = self._exp_avg(param)
            param.add_(exp_avg.lerp(grad, 1.0 - beta1).sign_(), alpha=-group["lr"])
            exp_avg.lerp_(grad, 1.0 - beta2)

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        exp_avgs = [self._exp_avg(param) for param in params]
        run(_lion_pass, (params, grads, exp_avgs), {"lr": group["lr"]}, {"betas": group["betas"]})


def _lion_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    *,
    lr: Any,
    betas: tuple[float, float],
) -> None:
    """Lion's step over lists of tensors."""
    beta1, beta2 = betas
    updates = torch._foreach_lerp(exp_avgs, grads, 1.0 - beta1)
    torch._foreach_sign_(updates)
    add_(params, list(updates), -lr)
    torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta2)
