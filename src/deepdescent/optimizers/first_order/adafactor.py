r"""Adafactor: factored second moments, update clipping and relative step sizes.

Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost" (ICML
2018), Algorithm 4 (matrices) and Algorithm 5 (vectors). At step t, for an n × m weight
matrix X with gradient G (a tensor of more dimensions is factored over its last two)::

    β̂₂ₜ = 1 − t^τ                       (τ = beta2_decay = −0.8, so β̂₂₁ = 0)
    ρₜ  = min(γ, 1/√t)                   (relative step size; γ = lr, the paper's 10⁻²)
    αₜ  = max(ε₂, RMS(X)) ρₜ             (step size relative to the weights' scale)
    R ← β̂₂ₜ R + (1 − β̂₂ₜ) (G² + ε₁) 1ₘ   (row sums: n numbers)
    C ← β̂₂ₜ C + (1 − β̂₂ₜ) 1ₙᵀ (G² + ε₁)  (column sums: m numbers)
    V̂ = R C / (1ₙᵀ R)                    (rank-1 estimate of the second moment)
    U = G / √V̂;   Û = U / max(1, RMS(U)/d)         (update clipping, threshold d)
    X ← X − αₜ Û

A vector keeps the full ``V̂ ← β̂₂ₜ V̂ + (1 − β̂₂ₜ)(G² + ε₁)`` (Algorithm 5). The state
of an n × m matrix is n + m numbers instead of Adam's 2nm. Means replace the sums (the
same V̂), and ``weight_decay`` λ is decoupled, ``X ← X (1 − γλ)`` after αₜ has read
RMS(X), as torch.optim.

Warning:
    Where ε₁ enters differs. The paper (and Keras) add ε₁ to G² inside R, C and V̂
    (``eps_convention="paper"``). torch.optim.Adafactor instead floors the row mean of R
    at ε₁ and V̂ at ε₁² (``eps_convention="torch"``, the default, which matches its
    iterates); ``eps=(None, ε₂)`` means ε₁ = the dtype's machine epsilon there, and the
    paper's 1e-30 under ``"paper"``. The two agree when ε₁ is negligible against G².
    The paper caps ρₜ at the constant 10⁻²; like torch, ``lr`` is that cap, and it
    defaults to Keras's 0.001 (torch's default is 0.01). The paper's optional first
    moment (β₁) is not offered, as in torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from deepdescent.optimizers import handwritten
from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.compiled import Run, lerp_, norms
from deepdescent.utils._checks import check_argument

__all__ = ["Adafactor"]

_PAPER_EPS1 = 1e-30


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern 2018, Algorithms 4 and 5).

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: γ, the cap of the relative step size ρₜ, a number or a schedule ``step -> γ``
            (``learning_rate`` is accepted as its Keras name). Default 0.001, as Keras.
        beta2_decay: τ ≤ 0, with ``β̂₂ₜ = 1 − t^τ`` (default −0.8).
        eps: (ε₁, ε₂): ε₁ ≥ 0 or ``None`` (see the module's warning), ε₂ ≥ 0 the floor of
            RMS(X) in αₜ.
        d: the update-clipping threshold, ≥ 1.
        weight_decay: λ, decoupled (``decoupled_weight_decay=False`` adds λX to G instead).
        eps_convention: ``"torch"`` (default) or ``"paper"``: where ε₁ enters.
        clipvalue, clipnorm, global_clipnorm, foreach, fused: see
            :class:`~deepdescent.optimizers.base.Optimizer`.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.full((2, 3), 2.0))
        >>> opt = deepdescent.optimizers.Adafactor([w], lr=0.01)
        >>> w.grad = torch.ones(2, 3); _ = opt.step()
        >>> round(w[0, 0].item(), 6)  # α₁ = RMS(X)·min(0.01, 1) = 0.02, Û = 1
        1.98
    """

    # Decoupled decay waits until αₜ has read RMS(X), inside the update.
    decoupled_decay_in_update = True

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        eps_convention: str = "torch",
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = True,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument("beta2_decay", beta2_decay, beta2_decay <= 0, "beta2_decay <= 0")
        eps_ok = (
            isinstance(eps, (tuple, list))
            and len(eps) == 2
            and (eps[0] is None or eps[0] >= 0)
            and eps[1] is not None
            and eps[1] >= 0
        )
        check_argument("eps", eps, eps_ok, "(ε₁, ε₂) with ε₁ None or >= 0 and ε₂ >= 0")
        check_argument("d", d, d >= 1, "d >= 1")
        check_argument(
            "eps_convention",
            eps_convention,
            eps_convention in ("torch", "paper"),
            "'torch' or 'paper'",
        )
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.001),
            "beta2_decay": beta2_decay,
            "eps": (eps[0], eps[1]),
            "d": d,
            "weight_decay": weight_decay,
            "eps_convention": eps_convention,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _eps1(group: dict[str, Any], dtype: torch.dtype) -> float:
        eps1 = group["eps"][0]
        if eps1 is not None:
            return eps1
        return _PAPER_EPS1 if group["eps_convention"] == "paper" else torch.finfo(dtype).eps

    def _advance(self, param: torch.Tensor) -> tuple[dict[str, Any], int]:
        """The state of ``param`` (created lazily: factors for a matrix, else V̂) and its
        new step count t."""
        state = self.state[param]
        if "step" not in state:
            state["step"] = 0
            if param.ndim >= 2:
                state["row_var"] = param.new_zeros((*param.shape[:-1], 1))
                state["col_var"] = param.new_zeros((*param.shape[:-2], 1, param.shape[-1]))
            else:
                state["variance"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["step"] += 1
        return state, state["step"]

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        paper = group["eps_convention"] == "paper"
        for param, grad in zip(params, grads, strict=True):
            state, t = self._advance(param)
            eps1, weight = self._eps1(group, param.dtype), t ** group["beta2_decay"]
            if param.ndim >= 2:
                estimate = _factored_estimate(
                    state["row_var"], state["col_var"], grad, weight, eps1, paper
                )
            else:
                squares = grad.square().add_(eps1) if paper else grad.square()
                estimate = state["variance"].lerp_(squares, weight)
            update = estimate.rsqrt() if paper else estimate.clamp(min=eps1 * eps1).rsqrt_()
            update.mul_(grad)
            root = math.sqrt(param.numel())
            alpha = (torch.linalg.vector_norm(param) / root).clamp_(min=group["eps"][1])
            alpha.mul_(min(group["lr"], t**-0.5))
            clipping = (torch.linalg.vector_norm(update) / (root * group["d"])).clamp_(min=1.0)
            if group["weight_decay"] and group["decoupled_weight_decay"]:
                param.mul_(1.0 - group["lr"] * group["weight_decay"])
            param.sub_(update.mul_(alpha.div_(clipping)))

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        advanced = [self._advance(p) for p in params]
        states = [state for state, _ in advanced]
        factored = [state for state in states if "row_var" in state]
        decoupled = group["decoupled_weight_decay"]
        run(
            _adafactor_pass,
            (
                params,
                grads,
                [state["row_var"] for state in factored],
                [state["col_var"] for state in factored],
                [state["variance"] for state in states if "variance" in state],
            ),
            {
                "lr": group["lr"],
                "weights": [t ** group["beta2_decay"] for _, t in advanced],
                "relative_steps": [min(group["lr"], t**-0.5) for _, t in advanced],
            },
            {
                "eps1s": [self._eps1(group, p.dtype) for p in params],
                "eps2": group["eps"][1],
                "d": group["d"],
                "paper": group["eps_convention"] == "paper",
                "decay": group["weight_decay"] if decoupled else 0.0,
            },
        )


def _factored_estimate(
    row_var: torch.Tensor,
    col_var: torch.Tensor,
    grad: torch.Tensor,
    weight: Any,
    eps1: float,
    paper: bool,
) -> torch.Tensor:
    """Advance R and C by (mean) G² and return the rank-1 V̂ = R C / mean(R) (new)."""
    rows = torch.linalg.vector_norm(grad, dim=-1, keepdim=True).square_().div_(grad.size(-1))
    cols = torch.linalg.vector_norm(grad, dim=-2, keepdim=True).square_().div_(grad.size(-2))
    if paper:  # mean(G² + ε₁) = mean(G²) + ε₁
        rows.add_(eps1)
        cols.add_(eps1)
    row_var.lerp_(rows, weight)
    col_var.lerp_(cols, weight)
    row_mean = row_var.mean(dim=-2, keepdim=True)
    if not paper:
        row_mean = row_mean.clamp_(min=eps1)
    # The outer product (n × 1)(1 × m) by broadcasting: the same products as a matmul,
    # which a compiled body can fuse into its pass.
    return (row_var * col_var).div_(row_mean)


def _adafactor_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    row_vars: list[torch.Tensor],
    col_vars: list[torch.Tensor],
    variances: list[torch.Tensor],
    *,
    lr: Any,
    weights: list[Any],
    relative_steps: list[Any],
    eps1s: list[float],
    eps2: float,
    d: float,
    paper: bool,
    decay: float,
) -> None:
    """Adafactor's step over lists of tensors: the factors of the matrices (in order) in
    ``row_vars`` and ``col_vars``, the V̂ of the vectors in ``variances``; each tensor's
    β̂₂ₜ weight ``t^τ`` and relative step ρₜ. X ← X − αₜ U / max(1, RMS(U)/d), with
    αₜ = max(ε₂, RMS(X)) ρₜ read before the decoupled decay."""
    factors = iter(zip(row_vars, col_vars, strict=True))
    vectors = iter(variances)
    estimates = []
    for grad, weight, eps1 in zip(grads, weights, eps1s, strict=True):
        if grad.ndim >= 2:
            row_var, col_var = next(factors)
            estimates.append(_factored_estimate(row_var, col_var, grad, weight, eps1, paper))
        else:
            estimates.append(next(vectors))
    rest = [i for i, g in enumerate(grads) if g.ndim < 2]
    if rest:
        vector_grads = [grads[i] for i in rest]
        squares = torch._foreach_mul(vector_grads, vector_grads)
        if paper:
            torch._foreach_add_(squares, [eps1s[i] for i in rest])
        lerp_([estimates[i] for i in rest], list(squares), [weights[i] for i in rest])
    if paper:
        updates = list(torch._foreach_rsqrt(estimates))
    else:
        # One floor for all when the dtypes agree (always in a compiled body, whose
        # inductor fuses a clamp to a number, not to a list of them).
        floors = {e * e for e in eps1s}
        floor = floors.pop() if len(floors) == 1 else [e * e for e in eps1s]
        updates = list(torch._foreach_clamp_min(estimates, floor))
        torch._foreach_rsqrt_(updates)
    torch._foreach_mul_(updates, grads)
    roots = [math.sqrt(p.numel()) for p in params]
    alphas = torch._foreach_div(norms(params), roots)
    torch._foreach_clamp_min_(alphas, eps2)
    torch._foreach_mul_(alphas, relative_steps)
    clipping = torch._foreach_div(norms(updates), [root * d for root in roots])
    torch._foreach_clamp_min_(clipping, 1.0)
    torch._foreach_div_(alphas, clipping)
    if decay:
        torch._foreach_mul_(params, 1.0 - lr * decay)
    torch._foreach_mul_(updates, alphas)
    torch._foreach_sub_(params, updates)


def _adafactor_by_hand(
    module: Any, tensors: Any, dynamic: Mapping[str, Any], static: Mapping[str, Any]
) -> None:
    """:func:`_adafactor_pass` by the hand-written CPU body: per vector, V̂ and both norms
    in one pass, the move in a second; per matrix, R, C and ‖X‖² in one pass, ‖U‖² in a
    second, the move in a third."""
    module.adafactor(
        *tensors,
        float(dynamic["lr"]),
        dynamic["weights"],
        dynamic["relative_steps"],
        static["eps1s"],
        static["eps2"],
        static["d"],
        static["paper"],
        static["decay"],
    )


handwritten.register(_adafactor_pass, _adafactor_by_hand)
