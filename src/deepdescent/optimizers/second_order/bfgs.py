r"""BFGS with a dense inverse-Hessian approximation, for small models.

Nocedal & Wright, *Numerical Optimization* (2nd ed., 2006), Algorithm 6.1; Goodfellow,
Bengio & Courville, *Deep Learning* (2016), §8.6.3. With ρ = 1/yₖᵀsₖ::

    dₖ = −Hₖ ∇fₖ;   θₖ₊₁ = θₖ + αₖ dₖ   (αₖ: strong-Wolfe line search, first trial 1)
    Hₖ₊₁ = (I − ρ sₖyₖᵀ) Hₖ (I − ρ yₖsₖᵀ) + ρ sₖsₖᵀ                        (6.17)

from H₀ = I, rescaled to H₀ = (yᵀs / yᵀy) I before the first update (6.20). The update is
applied in its expanded, symmetric rank-two form ``H ← H + s uᵀ + u sᵀ`` with
``u = ½(ρ + ρ² yᵀHy) s − ρ Hy``: one matrix-vector product and two outer products,
O(n²). Hₖ holds n² numbers, hence the ``max_params`` guard; beyond it use
:class:`~deepdescent.optimizers.LBFGS`. Groups, learning rate, weight decay, clipping and
minibatches: see :mod:`deepdescent.optimizers.second_order.quasi_newton`, shared with L-BFGS.

Warning:
    torch.optim has no BFGS. ``scipy.optimize.minimize(method="BFGS")`` uses the same
    update (6.17) and a Wolfe line search of c1 = 1e-4, c2 = 0.9, but not the scaling
    (6.20): its first inverse Hessian is the BFGS update of H₀ = I itself (SciPy 1.17), so
    from the second iteration on its iterates differ from these.
"""

from __future__ import annotations

from typing import Any

import torch

from deepdescent.optimizers.base import LearningRate, Params
from deepdescent.optimizers.second_order.quasi_newton import QuasiNewton
from deepdescent.utils._checks import check_count

__all__ = ["BFGS"]


class BFGS(QuasiNewton):
    """BFGS (N&W Algorithm 6.1) with the dense inverse update (6.17).

    Each ``step(closure)`` runs up to ``max_iter`` iterations (see
    :class:`~deepdescent.optimizers.LBFGS`, whose arguments it shares but for
    ``history_size``: BFGS keeps all the curvature it has seen, in Hₖ).

    Args:
        max_params: the most parameters (n) allowed; Hₖ takes n² numbers of the
            parameters' dtype (10 000: 400 MB in float32).
        params, lr, max_iter, max_eval, tolerance_grad, tolerance_change, line_search_fn,
        weight_decay, c1, c2, max_ls, curvature_eps, decoupled_weight_decay, clipping,
        foreach, fused: as :class:`~deepdescent.optimizers.LBFGS`.

    The state (``inverse_hessian`` and the counters ``func_evals``, ``n_iter``) lives in
    the state of the first parameter of the widest dtype.
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        line_search_fn: str | None = "strong_wolfe",
        weight_decay: float = 0.0,
        *,
        c1: float = 1e-4,
        c2: float = 0.9,
        max_ls: int = 25,
        curvature_eps: float = 1e-8,
        max_params: int = 10_000,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_count("max_params", max_params)
        super().__init__(
            params,
            {"max_params": max_params},
            lr=lr,
            learning_rate=learning_rate,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            line_search_fn=line_search_fn,
            c1=c1,
            c2=c2,
            max_ls=max_ls,
            curvature_eps=curvature_eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            foreach=foreach,
            fused=fused,
            clipping=clipping,
        )

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group, refusing to go beyond ``max_params`` parameters in all."""
        super().add_param_group(param_group)
        params = [p for group in self.param_groups for p in group["params"]]
        n, limit = sum(p.numel() for p in params), self.defaults["max_params"]
        if n > limit:
            self.param_groups.pop()
            size = max(p.element_size() for p in params) * n * n
            raise ValueError(
                f"BFGS keeps a dense n×n inverse Hessian: these parameters number n = {n:,}, "
                f"so it would take {size / 2**20:,.0f} MiB, over max_params = {limit:,}. "
                "Use LBFGS (O(mn) memory) for a model this size, or raise max_params."
            )

    def _inverse_hessian_times(self, state: dict[str, Any], v: torch.Tensor) -> torch.Tensor:
        inverse = state.get("inverse_hessian")
        return v.clone() if inverse is None else inverse @ v

    def _remember(self, state: dict[str, Any], s: torch.Tensor, y: torch.Tensor, sy: float) -> None:
        inverse = state.get("inverse_hessian")
        if inverse is None:
            eye = torch.eye(s.numel(), dtype=s.dtype, device=s.device)
            inverse = state["inverse_hessian"] = eye.mul_(sy / y.dot(y))
        rho = 1.0 / sy
        hy = inverse @ y
        u = s * (0.5 * (rho + rho**2 * y.dot(hy))) - hy * rho
        inverse.addr_(s, u).addr_(u, s)

    def _forget(self, state: dict[str, Any]) -> None:
        state.pop("inverse_hessian", None)

    def _has_curvature(self, state: dict[str, Any]) -> bool:
        return "inverse_hessian" in state
