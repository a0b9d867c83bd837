r"""Schedule-Free SGD and AdamW: averaging in place of a learning-rate schedule.

Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled" (NeurIPS
2024), section 2 (SGD) and Algorithm 1 (AdamW). Three sequences share one step::

    y_t = (1 − β) z_t + β x_t                 (the gradient is taken here)
    z_{t+1} = z_t − γ_t d_t                   (the base method's step)
    x_{t+1} = (1 − c_{t+1}) x_t + c_{t+1} z_{t+1}     (a running average of the z's)

starting from ``x_1 = z_1`` (the initial weights). For SGD ``d_t = ∇f(y_t) + λ y_t``
and ``γ_t = γ min(1, t/T_warmup)``; for AdamW ``v_t = β₂ v_{t−1} + (1 − β₂) g_t²``,
``d_t = g_t / (√v_t + ε) + λ y_t`` and ``γ_t = γ √(1 − β₂ᵗ) min(1, t/T_warmup)``.
The average weights step t by ``w_t = t^r γ̄_t^p`` (``r``, ``weight_lr_power`` = p,
``γ̄_t = max_{i≤t} γ_i``): ``c_{t+1} = w_t / Σ_{i≤t} w_i``, which is Algorithm 1's
``γ_t² / Σ γ_i²`` at the defaults r = 0, p = 2, and 1/t for a constant γ.
β (``momentum`` for SGD, β₁ of ``betas`` for AdamW) interpolates between plain
averaging (β = 1) and the base method (β → 0); 0.9 works across the paper's problems.

Only y and z are stored: the parameters hold y while training, and the step updates
them without forming x, as ``y_{t+1} = (1 − c) y_t + c z_t + γ_t (β(1 − c) − 1) d_t``.
**A user must call** ``optimizer.eval()`` **before evaluating, checkpointing or
deploying** (it sets the parameters to ``x = (y − (1 − β) z)/β``) **and**
``optimizer.train()`` **before training again** (back to y). The optimizer starts in
training mode; ``step()`` in evaluation mode raises an error.

Warning:
    Neither torch.optim nor Keras has these methods; the defaults are those of the
    reference implementation (facebookresearch/schedule_free): ``lr`` 1.0 for SGD and
    0.0025 for AdamW, β = 0.9. The paper's SGD equation writes ``c_{t+1} = 1/(t+1)``,
    also counting the initial point z_1; Algorithm 1 and the reference code give z_1 no
    weight, and so does this module, for both methods. The reference code's default
    AdamW puts the bias correction in the denominator; this module follows
    Algorithm 1 (and the reference's ``AdamWScheduleFreePaper``), with √(1 − β₂ᵗ) in γ_t
    and so in the averaging weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
from deepdescent.utils._checks import check_argument

__all__ = ["ScheduleFreeAdamW", "ScheduleFreeSGD"]


def _check_averaging(beta_name: str, beta: Any, warmup_steps: Any, r: Any, power: Any) -> None:
    check_argument(beta_name, beta, 0.0 < beta < 1.0, f"0 < {beta_name} < 1")
    check_argument(
        "warmup_steps",
        warmup_steps,
        isinstance(warmup_steps, int) and warmup_steps >= 0,
        "an integer >= 0",
    )
    check_argument("r", r, r >= 0, "r >= 0")
    check_argument("weight_lr_power", power, power >= 0, "weight_lr_power >= 0")


class _ScheduleFree(Optimizer):
    """The y/z/x bookkeeping shared by both methods; a subclass supplies β, the factor
    of γ_t and the base direction d_t (without λy)."""

    # Decoupled λy is part of d_t, added in the update; coupled λy goes into g.
    decoupled_decay_in_update = True

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group, in training mode, with its own step count and averaging weights."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for key, start in (("train_mode", True), ("k", 0), ("weight_sum", 0.0), ("lr_max", 0.0)):
            group.setdefault(key, start)

    # -- the two modes ---------------------------------------------------------------

    @torch.no_grad()
    def eval(self) -> None:
        """Set the parameters to the average x, the point to evaluate, save or deploy."""
        self._swap(train_mode=False)

    @torch.no_grad()
    def train(self) -> None:
        """Set the parameters back to y, the point where gradients are taken."""
        self._swap(train_mode=True)

    def use_evaluation_weights(self) -> None:
        """:meth:`eval`: the training loop's name for it (``fit`` evaluates at x)."""
        self.eval()

    def use_training_weights(self) -> None:
        """:meth:`train`: the training loop's name for it."""
        self.train()

    def _swap(self, train_mode: bool) -> None:
        for group in self.param_groups if self.is_bound else []:
            if group["train_mode"] == train_mode:
                continue
            beta = self._interpolation(group)
            # y = x + (1 − β)(z − x) and x = y + (1 − 1/β)(z − y).
            weight = 1.0 - beta if train_mode else 1.0 - 1.0 / beta
            params = [p for p in group["params"] if "z" in self.state[p]]
            if params:
                torch._foreach_lerp_(params, [self.state[p]["z"] for p in params], weight)
            group["train_mode"] = train_mode

    def step(  # type: ignore[override]  # as the base's: torch types the loss as a float
        self, closure: Callable[[], torch.Tensor] | None = None
    ) -> torch.Tensor | None:
        """One update of y and z; refused in evaluation mode (call :meth:`train` first)."""
        if self.is_bound and not all(group["train_mode"] for group in self.param_groups):
            raise RuntimeError(
                f"{type(self).__name__}.step() called in evaluation mode: call "
                "optimizer.train() before training (and optimizer.eval() before evaluating)"
            )
        return super().step(closure)

    # -- the step -------------------------------------------------------------------

    def _interpolation(self, group: dict[str, Any]) -> float:
        raise NotImplementedError

    def _lr_factor(self, group: dict[str, Any], t: int) -> float:
        return 1.0

    def _directions(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """d_t without λy, one tensor at a time (the multi-tensor form is in
        :func:`_schedule_free_pass`)."""
        raise NotImplementedError

    def _second_moments(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """AdamW's v for each parameter; none for SGD."""
        return []

    def _direction_options(self, group: dict[str, Any]) -> dict[str, Any]:
        """β₂ and ε of AdamW's direction (nothing for SGD)."""
        return {}

    def _advance(self, group: dict[str, Any]) -> tuple[float, float]:
        """γ_t and c_{t+1} for this step of the group."""
        t = group["k"] = group["k"] + 1
        warmup = group["warmup_steps"]
        lr = group["lr"] * (min(1.0, t / warmup) if warmup else 1.0) * self._lr_factor(group, t)
        group["lr_max"] = max(lr, group["lr_max"])
        weight = t ** group["r"] * group["lr_max"] ** group["weight_lr_power"]
        group["weight_sum"] += weight
        return lr, (weight / group["weight_sum"] if group["weight_sum"] > 0 else 0.0)

    def _points(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """z for each parameter, starting at the current weights (z_1 = x_1 = y_1)."""
        for param in params:
            state = self.state[param]
            if "z" not in state:
                state["z"] = param.detach().clone(memory_format=torch.preserve_format)
        return [self.state[p]["z"] for p in params]

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        lr, c = self._advance(group)
        beta = self._interpolation(group)
        points = self._points(params)
        directions = self._directions(group, params, grads)
        decay = self._decay(group)
        for y, z, d in zip(params, points, directions, strict=True):
            if decay:
                d = d.add(y, alpha=decay)
            y.lerp_(z, c).add_(d, alpha=lr * (beta * (1 - c) - 1))
            z.sub_(d, alpha=lr)

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        lr, c = self._advance(group)
        run(
            _schedule_free_pass,
            (params, grads, self._points(params), self._second_moments(params)),
            {"lr": lr, "c": c},
            {
                "beta": self._interpolation(group),
                "decay": self._decay(group),
                **self._direction_options(group),
            },
        )

    @staticmethod
    def _decay(group: dict[str, Any]) -> float:
        """λ of the decoupled λy in d_t (the coupled form is in g already)."""
        return group["weight_decay"] if group["decoupled_weight_decay"] else 0.0


def _schedule_free_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    points: list[torch.Tensor],
    seconds: list[torch.Tensor],
    *,
    lr: Any,
    c: Any,
    beta: float,
    decay: float,
    beta2: float = 0.0,
    eps: float = 0.0,
) -> None:
    """One step of y (the parameters) and z over lists of tensors; d_t is g for SGD, or,
    given AdamW's second moments ``seconds``, ``g/(√v + ε)``."""
    directions = grads
    if seconds:
        torch._foreach_mul_(seconds, beta2)
        torch._foreach_addcmul_(seconds, grads, grads, value=1 - beta2)
        denoms = torch._foreach_sqrt(seconds)
        torch._foreach_add_(denoms, eps)
        directions = list(torch._foreach_div(grads, denoms))
    if decay:
        directions = list(torch._foreach_add(directions, params, alpha=decay))
    torch._foreach_lerp_(params, points, c)
    add_(params, directions, lr * (beta * (1 - c) - 1))
    add_(points, directions, -lr)


class ScheduleFreeSGD(_ScheduleFree):
    """Schedule-Free SGD (Defazio et al. 2024): ``d_t = ∇f(y_t) + λ y_t``.

    Call :meth:`eval` before evaluating or saving and :meth:`train` before training again:
    while training the parameters hold y, not the average x.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: γ, a number or a schedule ``step -> γ`` (``learning_rate`` is accepted as its
            Keras name). Default 1.0, the reference implementation's.
        momentum: β in (0, 1), the interpolation (default 0.9).
        weight_decay: λ, evaluated at y.
        warmup_steps: linear warm-up of γ_t over this many steps.
        r, weight_lr_power: the averaging weights ``t^r γ̄_t^p`` (defaults 0 and 2).
        decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm, foreach, fused: see
            :class:`~deepdescent.optimizers.base.Optimizer` (for SGD both forms of the
            decay give the same step).

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.ScheduleFreeSGD([w], lr=0.5)
        >>> w.grad = torch.tensor([1.0]); _ = opt.step(); opt.eval(); round(w.item(), 6)
        0.5
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        *,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = True,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        _check_averaging("momentum", momentum, warmup_steps, r, weight_lr_power)
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1.0),
            "momentum": momentum,
            "weight_decay": weight_decay,
            "warmup_steps": warmup_steps,
            "r": r,
            "weight_lr_power": weight_lr_power,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def _interpolation(self, group: dict[str, Any]) -> float:
        return group["momentum"]

    def _directions(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        return grads


class ScheduleFreeAdamW(_ScheduleFree):
    """Schedule-Free AdamW (Defazio et al. 2024, Algorithm 1):
    ``d_t = g_t / (√v_t + ε) + λ y_t``.

    Call :meth:`eval` before evaluating or saving and :meth:`train` before training again:
    while training the parameters hold y, not the average x.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: γ, a number or a schedule ``step -> γ`` (``learning_rate`` is accepted as its
            Keras name). Default 0.0025, the reference implementation's.
        betas: (β₁, β₂): β₁ in (0, 1) the interpolation, β₂ in [0, 1) the second moment's
            decay.
        eps: ε ≥ 0, added to √v_t.
        weight_decay: λ, evaluated at y; ``decoupled_weight_decay=False`` adds it to g
            before the second moment instead (L2).
        warmup_steps, r, weight_lr_power: as :class:`ScheduleFreeSGD`.
        clipvalue, clipnorm, global_clipnorm, foreach, fused: see
            :class:`~deepdescent.optimizers.base.Optimizer`.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.ScheduleFreeAdamW([w], lr=0.1, warmup_steps=10)
        >>> for _ in range(20):
        ...     w.grad = 2 * w.detach(); _ = opt.step()
        >>> opt.eval(); 0.0 < w.item() < 1.0
        True
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = True,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        betas = check_betas(betas)
        _check_averaging("betas[0]", betas[0], warmup_steps, r, weight_lr_power)
        check_argument("eps", eps, eps >= 0, "eps >= 0")
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.0025),
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "warmup_steps": warmup_steps,
            "r": r,
            "weight_lr_power": weight_lr_power,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def _interpolation(self, group: dict[str, Any]) -> float:
        return group["betas"][0]

    def _lr_factor(self, group: dict[str, Any], t: int) -> float:
        return math.sqrt(1 - group["betas"][1] ** t)

    def _second_moments(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self._init_state(p, "exp_avg_sq", step=False)["exp_avg_sq"] for p in params]

    def _direction_options(self, group: dict[str, Any]) -> dict[str, Any]:
        return {"beta2": group["betas"][1], "eps": group["eps"]}

    def _directions(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        beta2, eps = group["betas"][1], group["eps"]
        directions = []
        for v, grad in zip(self._second_moments(params), grads, strict=True):
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            directions.append(grad / v.sqrt().add_(eps))
        return directions
