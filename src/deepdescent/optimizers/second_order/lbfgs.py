r"""Limited-memory BFGS: the two-loop recursion over the last m curvature pairs.

Nocedal & Wright, *Numerical Optimization* (2nd ed., 2006), Algorithm 7.5 (L-BFGS) with
Algorithm 7.4 (the two-loop recursion); Goodfellow, Bengio & Courville, *Deep Learning*
(2016), §8.6.3. With the pairs (sᵢ, yᵢ), ρᵢ = 1/yᵢᵀsᵢ, i = k−m … k−1, r = Hₖ q is::

    for i = k−1 … k−m:  αᵢ = ρᵢ sᵢᵀq;   q ← q − αᵢ yᵢ
    r ← γₖ q,  γₖ = sₖ₋₁ᵀyₖ₋₁ / yₖ₋₁ᵀyₖ₋₁     (H⁰ₖ = γₖI, eq. 7.20)
    for i = k−m … k−1:  β = ρᵢ yᵢᵀr;    r ← r + sᵢ(αᵢ − β)

and the iteration is ``θ ← θ + α d`` with ``d = −Hₖ∇f`` and α from a strong-Wolfe line
search (N&W Algorithms 3.5–3.6, first trial α = 1), in O(mn) time and memory. How the
groups, the learning rate, weight decay, clipping and minibatches enter is described in
:mod:`deepdescent.optimizers.second_order.quasi_newton`, shared with
:class:`~deepdescent.optimizers.BFGS`.

Warning:
    torch.optim.LBFGS has ``line_search_fn=None`` (a fixed step of ``lr``) by default;
    here it is ``"strong_wolfe"``, as N&W and SciPy use. torch.optim's L-BFGS takes one
    parameter group on one device and fixes c1 = 1e-4, c2 = 0.9 and 25 evaluations per
    search; here any groups and devices are flattened into one vector and the constants
    are arguments. torch keeps a pair when sᵀy > 1e-10 and forms the first pair of a
    step from the previous step's last gradient (another minibatch, under ``fit``); here a
    pair is kept when sᵀy > ε‖s‖‖y‖ and is always formed within one step. torch's first
    trial step is min(1, 1/‖g‖₁)·lr, here min(1, 1/‖g‖₂)·lr (L-BFGS-B's, a step of unit
    length). Keras has no L-BFGS; ``lr`` defaults to torch's 1.
"""

from __future__ import annotations

from typing import Any

import torch

from deepdescent.optimizers.base import LearningRate, Params
from deepdescent.optimizers.second_order.quasi_newton import QuasiNewton
from deepdescent.utils._checks import check_count

__all__ = ["LBFGS"]


class LBFGS(QuasiNewton):
    """L-BFGS (N&W Algorithm 7.5): quasi-Newton steps from the last ``history_size`` pairs.

    Each ``step(closure)`` runs up to ``max_iter`` iterations, as torch.optim.LBFGS does:
    call it once with ``max_iter`` large for a full-batch solve, or once per minibatch
    with a small ``max_iter`` (1 to a few) under ``fit``.

    Args:
        params: parameters or groups (any number, any devices); omit for a Keras-style
            specification.
        lr: first trial step of each line search (``learning_rate`` is its Keras name),
            or the fixed step without one; per group it scales that group's part of the
            step (``lr=0`` freezes a group). Default 1.
        max_iter: iterations per ``step`` (20).
        max_eval: closure evaluations per ``step`` (default ``max_iter * 5 // 4``),
            checked after each iteration, so the last line search may overrun it.
        tolerance_grad: stop when ``max |∇f| <= tolerance_grad`` (1e-7).
        tolerance_change: stop when ``max |s|``, the change of f, or the directional
            derivative −gᵀHĝ (along the direction before ``lr`` scales it, as torch
            tests it) falls below it (1e-9).
        history_size: m, the number of pairs kept (100).
        line_search_fn: ``"strong_wolfe"`` (default), ``"backtracking"`` (Armijo), or
            ``None`` for a fixed step of ``lr`` (plus one evaluation for the pair).
        weight_decay: λ, per group: coupled (½λ‖θ‖² added to f and λθ to ∇f) or, with
            ``decoupled_weight_decay``, ``θ ← (1 − lr λ) θ`` after the iterations.
        c1, c2: the Wolfe constants, 0 < c1 < c2 < 1 (1e-4, 0.9).
        max_ls: evaluations per line search (25).
        curvature_eps: ε, a pair is used only if sᵀy > ε‖s‖‖y‖ (1e-8).
        clipvalue, clipnorm, global_clipnorm: clip the gradient that forms the direction
            (the line search and the pairs use the true gradient).
        foreach, fused: accepted for the shared signature; the update is one flat body.

    The state lives in the state of the first parameter of the widest dtype, as tensors
    and numbers (so ``state_dict`` and ``Model.save`` carry it): the pairs as the rows of
    ``s`` and ``y`` (k × n) with ``rho`` (k), a ring buffer whose oldest row is ``head``;
    the scaling ``gamma``; and torch's counters ``func_evals`` and ``n_iter``.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([3.0, -2.0], dtype=torch.float64))
        >>> opt = deepdescent.optimizers.second_order.lbfgs.LBFGS([w], max_iter=50)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (w[0] - 1) ** 2 + 10 * (w[1] - w[0] ** 2) ** 2
        ...     loss.backward()
        ...     return loss
        >>> _ = opt.step(closure); [round(v, 4) for v in w.tolist()]
        [1.0, 1.0]
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = "strong_wolfe",
        weight_decay: float = 0.0,
        *,
        c1: float = 1e-4,
        c2: float = 0.9,
        max_ls: int = 25,
        curvature_eps: float = 1e-8,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_count("history_size", history_size)
        super().__init__(
            params,
            {"history_size": history_size},
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

    def _pairs(
        self, state: dict[str, Any]
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The kept (sᵢ, yᵢ, ρᵢ), oldest first: rows of a ring buffer whose oldest row is
        ``head``."""
        if "s" not in state:
            return []
        s, y, rho, head = state["s"], state["y"], state["rho"], state["head"]
        order = [(head + i) % len(rho) for i in range(len(rho))]
        return [(s[i], y[i], rho[i]) for i in order]

    def _inverse_hessian_times(self, state: dict[str, Any], v: torch.Tensor) -> torch.Tensor:
        """Algorithm 7.4 on ``v``; the αᵢ, βᵢ stay 0-d tensors (no host sync)."""
        pairs = self._pairs(state)
        q = v.clone()
        alphas = []
        for s, y, rho in reversed(pairs):
            alpha = s.dot(q) * rho
            q.addcmul_(y, alpha, value=-1)
            alphas.append(alpha)
        q.mul_(state.get("gamma", 1.0))
        for (s, y, rho), alpha in zip(pairs, reversed(alphas), strict=True):
            q.addcmul_(s, alpha - y.dot(q) * rho)
        return q

    def _remember(self, state: dict[str, Any], s: torch.Tensor, y: torch.Tensor, sy: float) -> None:
        """Append the pair; once ``history_size`` are kept, it overwrites the oldest."""
        rho = s.new_tensor([1.0 / sy])
        if "s" not in state:
            state.update(s=s[None].clone(), y=y[None].clone(), rho=rho, head=0)
        elif len(state["rho"]) < self.param_groups[0]["history_size"]:
            for key, row in (("s", s[None]), ("y", y[None]), ("rho", rho)):
                state[key] = torch.cat([state[key], row])
        else:
            head = state["head"]
            state["s"][head], state["y"][head], state["rho"][head] = s, y, rho[0]
            state["head"] = (head + 1) % len(state["rho"])
        state["gamma"] = sy / y.dot(y)

    def _forget(self, state: dict[str, Any]) -> None:
        for key in ("s", "y", "rho", "head", "gamma"):
            state.pop(key, None)

    def _has_curvature(self, state: dict[str, Any]) -> bool:
        return "s" in state
