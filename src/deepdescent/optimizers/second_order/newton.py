r"""Newton's method with the exact Hessian, Levenberg–Marquardt damping, and the
saddle-free variant.

Goodfellow, Bengio & Courville, *Deep Learning* (2016), §8.6.1, Algorithm 8.8: with
g = ∇θJ(θ) and H = ∇²θJ(θ) on the whole training set,

    θ ← θ − ε H⁻¹ g                    (ε = ``lr``, 1 for the pure Newton step)

the minimizer of the second-order Taylor model J(θ) + gᵀΔ + ½ΔᵀHΔ when H is positive
definite. The system H Δ = −g is solved by Cholesky factorisation.

**Damping** (eq. 8.27, Levenberg 1944, Marquardt 1963): Δ = −ε (H + αI)⁻¹ g. With
``adapt_damping`` α follows the ratio of the actual to the predicted reduction (Moré 1978;
Martens 2010, §4.1)

    ρ = (J(θ) − J(θ + Δ)) / −(gᵀΔ + ½ΔᵀHΔ)

α ← 3α/2 when ρ < 1/4, α ← 2α/3 when ρ > 3/4; a step with ρ ≤ 0 (the loss did not go down)
is rejected and retried from the same θ and H with α ← 4α. When H + αI is not positive
definite its Cholesky factorisation fails and α is doubled until it succeeds (the
modified Newton method of Nocedal & Wright, Algorithm 3.3). α starts at ``damping``;
growing from 0 it jumps to τ = 10⁻³ · mean|diag H|, the scale of the problem.

**Saddle-free Newton** (Dauphin et al. 2014), ``saddle_free=True``: H = QΛQᵀ is replaced
by |H| = Q|Λ|Qᵀ, so Δ = −ε Q (|Λ| + αI)⁻¹ Qᵀ g moves *down* along directions of negative
curvature instead of up. Plain Newton rescales each eigendirection by 1/λᵢ, so along a
negative-curvature direction it steps towards the critical point: it is attracted to
saddle points (§8.2.3), which is what the saddle-free variant fixes.

Cost: the Hessian is formed exactly, column by column, by forward-mode differentiation of
the closure's backward pass (:func:`~deepdescent.autodiff.closure_hessian`):
n closure calls for n parameters, O(n²) memory and an O(n³) factorisation per step —
hence ``max_params`` (5000 by default); use L-BFGS or Hessian-free optimization beyond.
Like every line-search method it reads the loss on the host each step.

Warning:
    torch.optim and Keras have no Newton method. ``lr`` defaults to 1 (the Newton step);
    ``damping=0, adapt_damping=False`` is Algorithm 8.8 exactly, which solves an
    indefinite H by LU factorisation and so converges to saddle points as readily as to
    minima. The default (adapted damping) never moves uphill.

References:
    Goodfellow, Bengio & Courville, *Deep Learning*, §8.6.1 (2016). J. Nocedal & S. J.
    Wright, *Numerical Optimization*, 2nd ed., §3.4 (2006). J. Martens, "Deep learning via
    Hessian-free optimization", ICML 2010. Y. Dauphin et al., "Identifying and attacking
    the saddle point problem in high-dimensional non-convex optimization", NeurIPS 2014.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch

from deepdescent.autodiff import (
    closure_hessian,
    flatten,
    unflatten,
)
from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.optimizers.second_order.line_search import (
    LineFunction,
    _flat_weight_decay,
    _gradient_copies,
    _per_element,
    l2_penalty,
)
from deepdescent.utils._checks import check_argument, is_real

__all__ = ["Newton"]

_MAX_TRIES = 30  # rejected steps (or failed factorisations) before giving up for this step


def _regular(pivots: torch.Tensor) -> bool:
    """Whether a factorisation's pivot magnitudes (or |eigenvalues|) all exceed rounding,
    n·ε·max: otherwise the matrix is singular to working precision."""
    eps = torch.finfo(pivots.dtype).eps
    return float(pivots.min()) > len(pivots) * eps * float(pivots.max())


class _NewtonSystem:
    """The curvature B (H, or |H| when saddle-free) and the gradient g: solves
    (B + αI) p = −g and evaluates the model's predicted reduction."""

    def __init__(self, hessian: torch.Tensor, gradient: torch.Tensor, saddle_free: bool) -> None:
        self.hessian, self.gradient, self.saddle_free = hessian, gradient, saddle_free
        if saddle_free:
            eigenvalues, self.basis = torch.linalg.eigh(hessian)
            self.magnitudes = eigenvalues.abs()
            self.projected = self.basis.T @ gradient
        diagonal = float(hessian.diagonal().abs().mean())
        self.floor = 1e-3 * diagonal if diagonal > 0 else 1e-3

    def solve(self, damping: float, allow_indefinite: bool) -> torch.Tensor | None:
        """p, or None when B + αI is singular to working precision (or, unless
        ``allow_indefinite``, not positive definite)."""
        if self.saddle_free:
            scale = self.magnitudes + damping
            return -(self.basis @ (self.projected / scale)) if _regular(scale) else None
        matrix = self.hessian + damping * torch.eye(
            len(self.gradient), dtype=self.hessian.dtype, device=self.hessian.device
        )
        factor, info = torch.linalg.cholesky_ex(matrix)
        if int(info) == 0 and _regular(factor.diagonal() ** 2):
            return -torch.cholesky_solve(self.gradient[:, None], factor)[:, 0]
        if not allow_indefinite:
            return None
        lu, pivots, info = torch.linalg.lu_factor_ex(matrix)
        if int(info) != 0 or not _regular(lu.diagonal().abs()):
            return None
        return -torch.linalg.lu_solve(lu, pivots, self.gradient[:, None])[:, 0]

    def predicted_reduction(self, step: torch.Tensor) -> float:
        """−(gᵀΔ + ½ΔᵀBΔ), the decrease the quadratic model promises."""
        if self.saddle_free:
            quadratic = torch.sum(self.magnitudes * (self.basis.T @ step) ** 2)
        else:
            quadratic = step @ (self.hessian @ step)
        return float(-(self.gradient @ step + 0.5 * quadratic))


class Newton(Optimizer):
    """Newton's method (Algorithm 8.8) with the exact Hessian; Levenberg–Marquardt damping;
    saddle-free Newton with ``saddle_free=True``.

    Needs a closure (``step(closure)``); ``Model.fit`` gives it the whole training set per
    step when ``batch_size=None``.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: ε, the fraction of the Newton step taken, a number or a schedule (Keras name
            ``learning_rate``). Default 1.
        damping: the initial α ≥ 0 in (H + αI). Default 0.
        saddle_free: use |H| (Dauphin et al. 2014) instead of H.
        adapt_damping: adapt α by the reduction ratio ρ and reject uphill steps (one extra
            closure call per step). ``False`` with ``damping=0`` is Algorithm 8.8 exactly.
        max_params: the most parameter elements for which the dense n × n Hessian is formed.
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm, use_ema:
            see :class:`~deepdescent.optimizers.base.Optimizer`; coupled weight decay adds
            λI to H. ``damping``, ``saddle_free``, ``adapt_damping`` and ``max_params``
            concern the whole problem, so a parameter group's own values are ignored.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([3.0, -1.0]))
        >>> opt = deepdescent.optimizers.second_order.newton.Newton([w])
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (w[0] - 1) ** 2 + 2 * (w[1] - 2) ** 2 + w[0] * w[1]
        ...     loss.backward()
        ...     return loss
        >>> _ = opt.step(closure); [round(v, 6) for v in w.tolist()]
        [0.0, 2.0]
    """

    training_needs = TrainingNeeds(closure=True, full_batch=True, autograd=True)

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        damping: float = 0.0,
        saddle_free: bool = False,
        adapt_damping: bool = True,
        max_params: int = 5000,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument(
            "damping",
            damping,
            is_real(damping) and 0 <= damping < math.inf,
            "a finite number >= 0",
        )
        for name, flag in (("saddle_free", saddle_free), ("adapt_damping", adapt_damping)):
            check_argument(name, flag, isinstance(flag, bool), "True or False")
        check_argument(
            "max_params",
            max_params,
            isinstance(max_params, int) and not isinstance(max_params, bool) and max_params >= 1,
            "an int >= 1",
        )
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1.0),
            "damping": damping,
            "saddle_free": saddle_free,
            "adapt_damping": adapt_damping,
            "max_params": max_params,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; refuses a total too large for a dense Hessian."""
        super().add_param_group(param_group)
        total = sum(p.numel() for group in self.param_groups for p in group["params"])
        limit = self.defaults["max_params"]
        if total > limit:
            raise ValueError(
                f"Newton forms the dense {total} × {total} Hessian, and these parameters "
                f"have {total} elements, more than max_params={limit}: use LBFGS or "
                "HessianFree for a model this large (or raise max_params)"
            )

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self, closure: Callable[[], torch.Tensor] | None = None
    ) -> torch.Tensor | None:
        """One (damped, saddle-free) Newton step; returns the closure's loss at the start."""
        return self._closure_step(closure, self._newton_update)

    def _newton_update(
        self,
        closure: Callable[[], torch.Tensor],
        entries: list[tuple[dict[str, Any], torch.Tensor]],
        value: float,
    ) -> None:
        params = [p for _, p in entries]
        grads = _gradient_copies(params)
        hessian = closure_hessian(closure, params)
        if not bool(hessian.isfinite().all()):
            raise ValueError("The Hessian has non-finite entries at the current parameters")
        hessian = 0.5 * (hessian + hessian.T)  # symmetric to rounding; make it exactly so
        self._clip_gradients(grads)
        grads, l2, shrunk = _flat_weight_decay(self, entries, grads)
        hessian.diagonal().add_(_per_element(l2, params))
        system = _NewtonSystem(hessian, flatten(grads), self.defaults["saddle_free"])
        scale = _per_element([g["lr"] for g, _ in entries], params)
        state = self.state[self.param_groups[0]["params"][0]]
        damping = float(state.get("damping", self.defaults["damping"]))
        if self.defaults["adapt_damping"]:
            damping = self._damped_step(closure, params, system, scale, l2, value, shrunk, damping)
        else:
            self._plain_step(params, system, scale, damping)
        state["damping"] = damping

    @staticmethod
    def _plain_step(
        params: list[torch.Tensor], system: _NewtonSystem, scale: torch.Tensor, damping: float
    ) -> None:
        direction = system.solve(damping, allow_indefinite=True)
        if direction is None:
            raise ValueError(
                f"The Hessian{' + αI' if damping else ''} is singular at the current "
                "parameters: set damping > 0 or adapt_damping=True"
            )
        torch._foreach_add_(params, unflatten(scale * direction, params))

    @staticmethod
    def _damped_step(
        closure: Callable[[], torch.Tensor],
        params: list[torch.Tensor],
        system: _NewtonSystem,
        scale: torch.Tensor,
        l2: list[float],
        value: float,
        shrunk: bool,
        damping: float,
    ) -> float:
        """Levenberg–Marquardt: try steps until one lowers the loss; returns the new α."""
        resolution = 4 * torch.finfo(scale.dtype).eps * max(1.0, abs(value))
        value0: float | None = None if shrunk else value + l2_penalty(params, l2)
        for _ in range(_MAX_TRIES):
            direction = system.solve(damping, allow_indefinite=False)
            if direction is None:
                damping = max(2.0 * damping, system.floor)
                continue
            step = scale * direction
            predicted = system.predicted_reduction(step)
            if abs(predicted) <= resolution:  # converged to rounding: ρ would be noise
                torch._foreach_add_(params, unflatten(step, params))
                return damping
            line = LineFunction(closure, params, unflatten(step, params), l2)
            if value0 is None:
                value0 = line(0.0)[0]
            rho = (value0 - line(1.0)[0]) / predicted if predicted > 0 else -math.inf
            if rho > 0:
                line.move_to(1.0)
                if rho < 0.25:
                    return max(1.5 * damping, system.floor)
                return damping * 2.0 / 3.0 if rho > 0.75 else damping
            damping = max(4.0 * damping, system.floor)
        warnings.warn(
            f"Newton: no step lowered the loss in {_MAX_TRIES} tries (damping now {damping:g}); "
            "the parameters were left unchanged",
            RuntimeWarning,
            stacklevel=3,
        )
        return damping
