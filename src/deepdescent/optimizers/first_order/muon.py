r"""Muon: momentum orthogonalized by a Newton–Schulz iteration, for the weight matrices.

Jordan, Jin, Boza, You, Cesista, Newhouse & Bernstein, "Muon: An optimizer for hidden
layers in neural networks" (2024, kellerjordan.github.io/posts/muon). For a weight matrix
W (a tensor of more dimensions is viewed as ``(shape[0], −1)``, a convolution's
``out × in·k·k``)::

    B ← μ B + (1 − μ) G                       (B starts at 0)
    M = (1 − μ) G + μ B    if nesterov,  else  M = B
    O = NS₅(M) ≈ U Vᵀ       where M = U S Vᵀ (singular value decomposition)
    W ← W − γ · s(A, B) · O

NS₅ is five steps of the quintic Newton–Schulz iteration ``X ← a X + (b XXᵀ + c (XXᵀ)²) X``
from ``X₀ = M / ‖M‖_F`` with (a, b, c) = (3.4445, −4.7750, 2.0315): each step maps every
singular value σ to ``aσ + bσ³ + cσ⁵``, a polynomial chosen for a steep slope at 0, so
the singular values land in a band around 1 (about [0.7, 1.2]) rather than at 1 exactly
(:func:`newton_schulz`). s(A, B) rescales the step of an A × B matrix:
``√max(1, A/B)`` (``adjust_lr_fn="original"``, Jordan's) or ``0.2 √max(A, B)``
(``"match_rms_adamw"``, Liu et al. 2025, which lets Muon reuse AdamW's γ and λ).
Weight decay is decoupled, ``W ← W (1 − γλ)`` first.

Muon is meant for the hidden layers' matrices. Every other parameter (biases, gains, and
whatever a parameter group marks ``use_muon=False``, such as embeddings and the classifier)
takes an AdamW step instead, with learning rate ``γ · adamw_lr_ratio``, ``adamw_betas``
and ``adamw_eps``: ``use_muon=None`` (default) chooses by shape, matrices and larger to
Muon.

Warning:
    torch.optim.Muon takes 2-D parameters only and has no fallback: deepdescent's Muon
    matches it on matrices (same defaults, the iteration in bfloat16 as Jordan's;
    ``ns_dtype=None`` iterates in the parameter's dtype) and steps the rest with AdamW,
    as Jordan's ``MuonWithAuxAdam`` and Keras do. ``lr`` defaults to Keras's 0.001 (also
    torch's). Keras's Muon uses λ = 0.004, ε = 1e-7 for its AdamW and the
    ``match_rms_adamw`` scaling; here λ = 0.1 and the scaling are torch's.
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
)
from deepdescent.optimizers.first_order.adam import adam_direction, adam_directions
from deepdescent.utils._checks import check_argument

__all__ = ["NS_COEFFICIENTS", "Muon", "newton_schulz"]

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
_NS_DTYPES = {
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float32": torch.float32,
    "float64": torch.float64,
}
_ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def newton_schulz(
    matrix: torch.Tensor,
    steps: int = 5,
    coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
    eps: float = 1e-7,
    dtype: torch.dtype | None = torch.bfloat16,
) -> torch.Tensor:
    """Orthogonalize a matrix ``M = U S Vᵀ`` approximately: ``U p(S / ‖M‖_F) Vᵀ``.

    ``p`` is ``steps`` compositions of ``σ ↦ aσ + bσ³ + cσ⁵``; with Jordan's coefficients
    and 5 steps it sends singular values that are not tiny relative to ‖M‖_F into a band
    around 1. Iterates on the wide orientation (``XXᵀ`` the smaller Gram matrix) in
    ``dtype`` (``None``: the matrix's own); returns a new tensor of that dtype.
    """
    a, b, c = coefficients
    x = matrix if dtype is None else matrix.to(dtype)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)  # ‖X₀‖₂ ≤ ‖X₀‖_F = 1: inside the polynomial's basin
    for _ in range(steps):
        gram = x @ x.T
        polynomial = torch.addmm(gram, gram, gram, beta=b, alpha=c)  # b XXᵀ + c (XXᵀ)²
        x = torch.addmm(x, polynomial, x, beta=a)
    return x.T if tall else x


def _scale(rule: str | None, rows: int, cols: int) -> float:
    """s(A, B), the step scale of an A × B matrix."""
    if rule == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return math.sqrt(max(1.0, rows / cols))


class Muon(Optimizer):
    """Muon (Jordan et al. 2024) on matrices, AdamW on the other parameters.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the learning rate γ, a number or a schedule ``step -> γ`` (``learning_rate``
            is accepted as its Keras name). Default 0.001, as Keras and torch.
        momentum: μ in [0, 1) (default 0.95).
        nesterov: use the Nesterov combination ``(1 − μ) G + μ B`` (default).
        ns_coefficients: (a, b, c) of the quintic iteration.
        eps: floor of ‖M‖_F in the iteration's normalization.
        ns_steps: number of Newton–Schulz steps, 1 to 99 (default 5).
        adjust_lr_fn: ``None``/``"original"`` or ``"match_rms_adamw"``, the scale s(A, B).
        weight_decay: λ (default 0.1, as torch), decoupled for both kinds of parameter.
        ns_dtype: dtype of the iteration, ``"bfloat16"`` (default), ``"float16"``,
            ``"float32"``, ``"float64"`` or ``None`` for the parameter's.
        use_muon: ``None`` chooses by shape (2 or more dimensions → Muon); set ``False``
            in a parameter group to give its matrices AdamW, ``True`` to insist on Muon.
        adamw_lr_ratio: the AdamW learning rate as a multiple of γ (default 1).
        adamw_betas, adamw_eps: AdamW's (β₁, β₂) and ε (defaults torch's AdamW's).
        decoupled_weight_decay: ``False`` adds λW to the gradient instead (L2).
        clipvalue, clipnorm, global_clipnorm, foreach, fused: see
            :class:`~deepdescent.optimizers.base.Optimizer`.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.zeros(2, 2))
        >>> opt = deepdescent.optimizers.Muon([w], lr=0.1, weight_decay=0.0, ns_dtype=None)
        >>> w.grad = torch.diag(torch.tensor([4.0, 1.0])); _ = opt.step()
        >>> [round(v, 2) for v in torch.diagonal(w).tolist()]  # both axes move alike
        [-0.07, -0.07]
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
        weight_decay: float = 0.1,
        *,
        ns_dtype: str | None = "bfloat16",
        use_muon: bool | None = None,
        adamw_lr_ratio: float = 1.0,
        adamw_betas: tuple[float, float] = (0.9, 0.999),
        adamw_eps: float = 1e-8,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = True,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        self._check(momentum, ns_coefficients, eps, ns_steps, adjust_lr_fn, ns_dtype, use_muon)
        check_argument("adamw_lr_ratio", adamw_lr_ratio, adamw_lr_ratio >= 0, "adamw_lr_ratio >= 0")
        adamw_betas = check_betas(adamw_betas, "adamw_betas")
        check_argument("adamw_eps", adamw_eps, adamw_eps >= 0, "adamw_eps >= 0")
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.001),
            "momentum": momentum,
            "nesterov": nesterov,
            "ns_coefficients": tuple(float(v) for v in ns_coefficients),
            "eps": eps,
            "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn,
            "weight_decay": weight_decay,
            "ns_dtype": ns_dtype,
            "use_muon": use_muon,
            "adamw_lr_ratio": adamw_lr_ratio,
            "adamw_betas": adamw_betas,
            "adamw_eps": adamw_eps,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _check(
        momentum: float,
        ns_coefficients: Any,
        eps: float,
        ns_steps: Any,
        adjust_lr_fn: Any,
        ns_dtype: Any,
        use_muon: Any,
    ) -> None:
        check_argument("momentum", momentum, 0.0 <= momentum < 1.0, "0 <= momentum < 1")
        check_argument(
            "ns_coefficients",
            ns_coefficients,
            isinstance(ns_coefficients, (tuple, list)) and len(ns_coefficients) == 3,
            "three numbers (a, b, c)",
        )
        check_argument("eps", eps, eps >= 0, "eps >= 0")
        check_argument(
            "ns_steps",
            ns_steps,
            isinstance(ns_steps, int) and 1 <= ns_steps < 100,
            "an integer from 1 to 99",
        )
        check_argument(
            "adjust_lr_fn", adjust_lr_fn, adjust_lr_fn in _ADJUST_LR_FNS, f"one of {_ADJUST_LR_FNS}"
        )
        check_argument(
            "ns_dtype",
            ns_dtype,
            ns_dtype is None or ns_dtype in _NS_DTYPES,
            f"None or one of {tuple(_NS_DTYPES)}",
        )
        check_argument("use_muon", use_muon, use_muon in (None, True, False), "None or a bool")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; one with ``use_muon=True`` must hold matrices (or larger) only."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if group["use_muon"] and any(p.ndim < 2 for p in group["params"]):
            shapes = [tuple(p.shape) for p in group["params"] if p.ndim < 2]
            raise ValueError(
                f"Invalid use_muon: True for parameters of shapes {shapes} "
                "(expected tensors of 2 or more dimensions; give them their own group)"
            )

    @staticmethod
    def _split(
        group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> tuple[tuple[list, list], tuple[list, list]]:
        """(params, grads) for Muon, then for the AdamW fallback."""
        choice = group["use_muon"]
        muon: tuple[list, list] = ([], [])
        adamw: tuple[list, list] = ([], [])
        for param, grad in zip(params, grads, strict=True):
            target = muon if (param.ndim >= 2 if choice is None else choice) else adamw
            target[0].append(param)
            target[1].append(grad)
        return muon, adamw

    @staticmethod
    def _apply_weight_decay(
        group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Decoupled decay with each kind's own rate: γ for Muon, γ·ratio for AdamW."""
        decay = group["weight_decay"]
        if not group["decoupled_weight_decay"] or decay == 0:
            return Optimizer._apply_weight_decay(group, params, grads)
        (muon, _), (adamw, _) = Muon._split(group, params, grads)
        for subset, lr in ((muon, group["lr"]), (adamw, group["lr"] * group["adamw_lr_ratio"])):
            if subset:
                torch._foreach_mul_(subset, 1.0 - lr * decay)
        return grads

    def _momentum_buffer(self, param: torch.Tensor) -> torch.Tensor:
        return self._init_state(param, "momentum_buffer", step=False)["momentum_buffer"]

    @staticmethod
    def _orthogonal_step(group: dict[str, Any], param: torch.Tensor, update: torch.Tensor) -> None:
        """W ← W − γ s(A, B) NS(M), with M viewed as ``shape[0] × rest``."""
        matrix = update.reshape(update.size(0), -1)
        dtype = None if group["ns_dtype"] is None else _NS_DTYPES[group["ns_dtype"]]
        ortho = newton_schulz(
            matrix, group["ns_steps"], group["ns_coefficients"], group["eps"], dtype
        )
        scale = _scale(group["adjust_lr_fn"], matrix.size(0), matrix.size(1))
        param.add_(ortho.reshape(param.shape), alpha=-group["lr"] * scale)

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        (muon_params, muon_grads), (adamw_params, adamw_grads) = self._split(group, params, grads)
        momentum = group["momentum"]
        for param, grad in zip(muon_params, muon_grads, strict=True):
            buffer = self._momentum_buffer(param).lerp_(grad, 1 - momentum)
            update = grad.lerp(buffer, momentum) if group["nesterov"] else buffer
            self._orthogonal_step(group, param, update)
        adamw_lr = group["lr"] * group["adamw_lr_ratio"]
        for param, grad in zip(adamw_params, adamw_grads, strict=True):
            state = self._init_state(param, "exp_avg", "exp_avg_sq")
            direction = adam_direction(state, grad, group["adamw_betas"], group["adamw_eps"])
            param.sub_(direction, alpha=adamw_lr)

    def _update_foreach(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        (muon_params, muon_grads), (adamw_params, adamw_grads) = self._split(group, params, grads)
        momentum = group["momentum"]
        if muon_params:
            buffers = [self._momentum_buffer(p) for p in muon_params]
            torch._foreach_lerp_(buffers, muon_grads, 1 - momentum)
            updates = (
                torch._foreach_lerp(muon_grads, buffers, momentum) if group["nesterov"] else buffers
            )
            # The iteration is matrix products, one matrix at a time.
            for param, update in zip(muon_params, updates, strict=True):
                self._orthogonal_step(group, param, update)
        if adamw_params:
            states = [self._init_state(p, "exp_avg", "exp_avg_sq") for p in adamw_params]
            directions = adam_directions(
                states, adamw_grads, group["adamw_betas"], group["adamw_eps"]
            )
            torch._foreach_sub_(
                adamw_params, directions, alpha=group["lr"] * group["adamw_lr_ratio"]
            )
