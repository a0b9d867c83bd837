r"""Nonlinear conjugate gradient: Fletcher–Reeves and Polak–Ribière (PR+).

Goodfellow, Bengio & Courville, *Deep Learning* (2016), §8.6.2, Algorithm 8.9: with
g_t = ∇θJ(θ_t) on the whole training set and ρ_{t−1} the previous direction,

    β_t = g_tᵀg_t / g_{t−1}ᵀg_{t−1}                    (Fletcher–Reeves, eq. 8.29)
    β_t = max(0, g_tᵀ(g_t − g_{t−1}) / g_{t−1}ᵀg_{t−1})  (Polak–Ribière, eq. 8.30; PR+)
    ρ_t = −g_t + β_t ρ_{t−1}
    ε* = argmin_ε J(θ_t + ε ρ_t)                        (a line search)
    θ_{t+1} = θ_t + ε* ρ_t

Directions conjugate with respect to the Hessian, ρ_tᵀHρ_{t−1} = 0, do not undo the
progress of the previous line minimizations; on an n-dimensional quadratic with exact line
searches the method is linear CG (Nocedal & Wright, Algorithm 5.2) and reaches the
minimum in at most n steps.

* **Line search**: ``"strong_wolfe"`` (N&W Algorithms 3.5–3.6, c₂ = 0.1 by default as N&W
  recommend for CG, §5.2; Fletcher–Reeves needs c₂ < ½ to guarantee descent), or
  ``"exact_quadratic"``, the minimizer ε* = −g_tᵀρ_t / ρ_tᵀHρ_t of the quadratic model,
  exact when J is quadratic; it costs one Hessian-vector product per step
  (:func:`~deepdescent.autodiff.closure_hessian_vector_product`). The first
  trial step of the strong-Wolfe search is N&W's eq. 3.60,
  ε₀ = ε*_{t−1} g_{t−1}ᵀρ_{t−1} / g_tᵀρ_t, and 1 on the first step.
* **Restarts** (ρ_t = −g_t): every ``restart`` steps (default n, the number of parameter
  elements), when consecutive gradients are far from orthogonal,
  |g_tᵀg_{t−1}| ≥ 0.1 g_tᵀg_t (Powell 1977; N&W eq. 5.52), when ρ_t is not a descent
  direction, and after a failed line search.

Parameter groups: all groups form one vector θ; each group's ``lr`` ε_g scales its part
of the direction, ρ_t = −P g_t + β_t ρ_{t−1} with P = diag(ε_g), and the inner products in
β and in Powell's test are taken in P (preconditioned CG). With one ``lr`` for every
parameter this is the method above with ρ scaled by ε: the line search absorbs the scale,
so ``lr`` only sets the length of the very first trial step, −ε g₀.

Warning:
    torch.optim and Keras have no conjugate gradient (SciPy's ``minimize(method="CG")``
    is Polak–Ribière with a strong-Wolfe search). Like every line-search method it reads
    the loss on the host at every evaluation and needs a closure; on minibatches each line
    search sees one minibatch, but conjugacy across different minibatches is lost, so use
    it full batch (``batch_size=None`` in ``fit``).

References:
    Goodfellow, Bengio & Courville, *Deep Learning*, §8.6.2 (2016). J. Nocedal & S. J.
    Wright, *Numerical Optimization*, 2nd ed., chapter 5 (2006). R. Fletcher & C. M.
    Reeves (1964); E. Polak & G. Ribière (1969); M. J. D. Powell, "Restart procedures
    for the conjugate gradient method", Math. Programming 12 (1977).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import torch

from deepdescent.autodiff import closure_hessian_vector_product, dot
from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.optimizers.second_order.line_search import (
    LineFunction,
    LineSearchResult,
    _flat_weight_decay,
    _gradient_copies,
    exact_quadratic_step,
    l2_penalty,
    strong_wolfe,
)
from deepdescent.utils._checks import check_argument
from deepdescent.utils._lookup import lookup

__all__ = ["ConjugateGradient"]

_BETAS = {"fletcher_reeves": "fletcher_reeves", "polak_ribiere": "polak_ribiere"}
_LINE_SEARCHES = {"strong_wolfe": "strong_wolfe", "exact_quadratic": "exact_quadratic"}
_MAX_STEP = 1e10  # the strong-Wolfe search's α_max
_POWELL = 0.1  # restart when |g_tᵀg_{t−1}| ≥ 0.1 g_tᵀg_t (N&W eq. 5.52)


class ConjugateGradient(Optimizer):
    """Nonlinear conjugate gradient (Algorithm 8.9), Fletcher–Reeves or Polak–Ribière+.

    Needs a closure (``step(closure)``); ``Model.fit`` gives it the whole training set per
    step when ``batch_size=None``. One call of ``step`` is one CG iteration.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: ε, scaling the direction (only the first trial step's length when every
            group has the same ε), a number or a schedule (Keras name
            ``learning_rate``). Default 1.
        beta: ``"polak_ribiere"`` (PR+, the default) or ``"fletcher_reeves"``.
        restart: restart with −g every this many steps (default: the number of parameter
            elements, n).
        line_search: ``"strong_wolfe"`` or ``"exact_quadratic"``.
        c1, c2: the strong-Wolfe constants, 0 < c1 < c2 < 1 (defaults 1e-4 and 0.1).
        max_evaluations: the most loss evaluations per strong-Wolfe search.
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm, use_ema:
            see :class:`~deepdescent.optimizers.base.Optimizer`. Coupled decay λ adds
            (λ/2)‖θ‖² to the objective the line search sees; clipping applies to the
            gradient that builds the direction. ``beta``, ``restart``, ``line_search``,
            ``c1``, ``c2`` and ``max_evaluations`` concern the whole problem, so a
            parameter group's own values are ignored.

    Attributes:
        last_line_search: the
            :class:`~deepdescent.optimizers.second_order.line_search.LineSearchResult` of
            the last strong-Wolfe search (``None`` before one).

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([3.0, -1.0]))
        >>> opt = deepdescent.optimizers.second_order.conjugate_gradient.ConjugateGradient([w])
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (w[0] - 1) ** 2 + 2 * (w[1] - 2) ** 2 + w[0] * w[1]
        ...     loss.backward()
        ...     return loss
        >>> for _ in range(3):
        ...     _ = opt.step(closure)
        >>> [round(v, 4) for v in w.tolist()]
        [0.0, 2.0]
    """

    training_needs = TrainingNeeds(closure=True, full_batch=True)

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        beta: str = "polak_ribiere",
        restart: int | None = None,
        line_search: str = "strong_wolfe",
        c1: float = 1e-4,
        c2: float = 0.1,
        max_evaluations: int = 25,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        beta = lookup("beta", beta, _BETAS)
        line_search = lookup("line_search", line_search, _LINE_SEARCHES)
        if restart is not None:
            check_argument(
                "restart",
                restart,
                isinstance(restart, int) and not isinstance(restart, bool) and restart >= 1,
                "an int >= 1, or None for the number of parameter elements",
            )
        check_argument("c1", c1, isinstance(c1, (int, float)) and 0 < c1 < 1, "0 < c1 < 1")
        check_argument(
            "c2", c2, isinstance(c2, (int, float)) and c1 < c2 < 1, f"c1 = {c1} < c2 < 1"
        )
        check_argument(
            "max_evaluations",
            max_evaluations,
            isinstance(max_evaluations, int)
            and not isinstance(max_evaluations, bool)
            and max_evaluations >= 1,
            "an int >= 1",
        )
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1.0),
            "beta": beta,
            "restart": restart,
            "line_search": line_search,
            "c1": c1,
            "c2": c2,
            "max_evaluations": max_evaluations,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        self.last_line_search: LineSearchResult | None = None
        super().__init__(params, defaults, **clipping)

    def needs(self) -> TrainingNeeds:
        """The exact quadratic step's Hessian-vector products differentiate autograd's
        backward pass; the strong-Wolfe search needs only losses and gradients."""
        exact = self._spec_defaults["line_search"] == "exact_quadratic"
        return TrainingNeeds(closure=True, full_batch=True, autograd=exact)

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self, closure: Callable[[], torch.Tensor] | None = None
    ) -> torch.Tensor | None:
        """One conjugate-gradient iteration; returns the closure's loss at the start."""
        return self._closure_step(closure, self._iterate)

    # -- one iteration -----------------------------------------------------------------

    def _iterate(
        self,
        closure: Callable[[], torch.Tensor],
        entries: list[tuple[dict[str, Any], torch.Tensor]],
        value: float,
    ) -> None:
        params = [p for _, p in entries]
        raw = _gradient_copies(params)
        grads = [g.clone() for g in raw]
        self._clip_gradients(grads)
        grads, l2, shrunk = _flat_weight_decay(self, entries, grads)
        true_grads = [
            g.add(p, alpha=d) if d else g for g, p, d in zip(raw, params, l2, strict=True)
        ]
        weights = [group["lr"] for group, _ in entries]
        direction, restarted = self._direction(params, grads, weights)
        slope = float(dot(true_grads, direction))
        if slope >= 0 and not restarted:
            direction, restarted = _steepest(grads, weights), True
            slope = float(dot(true_grads, direction))
        if slope >= 0:  # ∇J = 0 to rounding, or clipping turned the step uphill: stay
            return
        memory = self.state[self.param_groups[0]["params"][0]]
        if self.defaults["line_search"] == "exact_quadratic":
            step = self._exact_step(closure, params, direction, l2, slope)
        else:
            start = value if not shrunk else None
            step = self._wolfe_step(closure, params, direction, l2, start, slope, memory)
        for param, grad, d in zip(params, grads, direction, strict=True):
            self.state[param]["previous_grad"] = grad
            if step == 0:  # the line search failed: restart from −g next time
                self.state[param].pop("direction", None)
            else:
                self.state[param]["direction"] = d
        memory["since_restart"] = 1 if restarted else memory["since_restart"] + 1
        memory.update(previous_step=step, previous_slope=slope)

    def _direction(
        self, params: list[torch.Tensor], grads: list[torch.Tensor], weights: list[float]
    ) -> tuple[list[torch.Tensor], bool]:
        """ρ_t = −P g_t + β_t ρ_{t−1}, or −P g_t on a restart; and whether it restarted."""
        stored = [self.state[p].get(key) for key in ("previous_grad", "direction") for p in params]
        memory = self.state[self.param_groups[0]["params"][0]]
        period = self.defaults["restart"] or sum(p.numel() for p in params)
        if any(t is None for t in stored) or memory["since_restart"] >= period:
            return _steepest(grads, weights), True
        old = cast(list[torch.Tensor], stored[: len(params)])
        kept = cast(list[torch.Tensor], stored[len(params) :])
        norm = _weighted_dot(grads, grads, weights)
        old_norm = _weighted_dot(old, old, weights)
        overlap = _weighted_dot(grads, old, weights)
        if abs(overlap) >= _POWELL * norm or old_norm == 0:
            return _steepest(grads, weights), True
        if self.defaults["beta"] == "fletcher_reeves":
            beta = norm / old_norm
        else:
            beta = max(0.0, (norm - overlap) / old_norm)
        return list(torch._foreach_add(_steepest(grads, weights), kept, alpha=beta)), False

    # -- the step along ρ --------------------------------------------------------------

    @staticmethod
    def _exact_step(
        closure: Callable[[], torch.Tensor],
        params: list[torch.Tensor],
        direction: list[torch.Tensor],
        l2: list[float],
        slope: float,
    ) -> float:
        """ε* = −gᵀρ / ρᵀ(H + λI)ρ; moves the parameters by ε*ρ."""
        _, products = closure_hessian_vector_product(closure, params, direction)
        curvature = float(dot(direction, products)) + sum(
            d * float(dot([r], [r])) for r, d in zip(direction, l2, strict=True) if d
        )
        step = exact_quadratic_step(slope, curvature)
        torch._foreach_add_(params, direction, alpha=step)
        return step

    def _wolfe_step(
        self,
        closure: Callable[[], torch.Tensor],
        params: list[torch.Tensor],
        direction: list[torch.Tensor],
        l2: list[float],
        value: float | None,
        slope: float,
        memory: dict[str, Any],
    ) -> float:
        """A strong-Wolfe step along ρ; 0 (parameters unchanged) when the search fails."""
        line = LineFunction(closure, params, direction, l2)
        if value is None:  # decoupled decay moved θ after the loss was taken
            value, slope = line(0.0)
        else:
            value += l2_penalty(params, l2)
        initial = 1.0
        if "previous_step" in memory and memory["previous_step"] > 0:
            initial = memory["previous_step"] * memory["previous_slope"] / slope
        result = strong_wolfe(
            line,
            value,
            slope,
            initial_step=min(initial, _MAX_STEP) if math.isfinite(initial) and initial > 0 else 1.0,
            max_step=_MAX_STEP,
            c1=self.defaults["c1"],
            c2=self.defaults["c2"],
            max_evaluations=self.defaults["max_evaluations"],
        )
        self.last_line_search = result
        if result.success:
            line.move_to(result.step)
        return result.step


def _steepest(grads: list[torch.Tensor], weights: list[float]) -> list[torch.Tensor]:
    """−P g: the (preconditioned) steepest-descent direction."""
    return [g.mul(-w) for g, w in zip(grads, weights, strict=True)]


def _weighted_dot(xs: list[torch.Tensor], ys: list[torch.Tensor], weights: list[float]) -> float:
    """Σᵢ wᵢ⟨xᵢ, yᵢ⟩: the inner product in the preconditioner P = diag(ε_g)."""
    return sum(w * float(torch.sum(x * y)) for x, y, w in zip(xs, ys, weights, strict=True))
