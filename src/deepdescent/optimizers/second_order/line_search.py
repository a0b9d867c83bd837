r"""Line searches, written once for every method that needs one.

A line search chooses the step α along a descent direction d from θ by looking at the
one-dimensional function

    φ(α) = f(θ + α d),    φ'(α) = ∇f(θ + α d)ᵀ d,    φ'(0) < 0.

Conditions on the accepted step (Nocedal & Wright, *Numerical Optimization*, 2nd ed.,
§3.1), with 0 < c₁ < c₂ < 1:

* sufficient decrease (Armijo):  φ(α) ≤ φ(0) + c₁ α φ'(0)                       (3.6a)
* strong curvature:              |φ'(α)| ≤ c₂ |φ'(0)|                              (3.7b)

Three searches:

* :func:`backtracking_armijo` — Algorithm 3.1: try α₀, then ρα₀, ρ²α₀, … until (3.6a)
  holds.
* :func:`strong_wolfe` — Algorithm 3.5 (bracketing) and Algorithm 3.6 (``zoom``): grow the
  trial step until an interval is known to contain points satisfying both conditions,
  then shrink it, choosing each trial point as the minimizer of the cubic that
  interpolates φ and φ' at the interval's ends (eq. 3.59), bisecting when that minimizer
  is missing or too close to an end. c₂ = 0.9 suits (quasi-)Newton methods, c₂ = 0.1
  nonlinear conjugate gradient (N&W p. 34).
* :func:`exact_quadratic_step` — on a quadratic f(θ) = ½θᵀAθ − bᵀθ the minimizer along d
  is α* = −∇fᵀd / dᵀAd (eq. 5.6 with the residual r = ∇f).

:class:`LineFunction` builds φ from an optimizer's closure, its parameters and a
direction, so every method shares one way of moving the parameters and putting them back.

A search that fails (no descent direction, evaluations exhausted, an interval of
uncertainty below rounding) returns ``success=False`` with a message and step 0, and a
:class:`LineFunction` leaves the parameters where they started.

Note:
    A line search decides on the host: every evaluation of φ reads the loss and the slope
    as Python floats (one device synchronisation per evaluation), as in
    ``torch.optim.LBFGS`` and SciPy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from deepdescent.autodiff import dot
from deepdescent.optimizers.base import Optimizer, loss_value
from deepdescent.utils._checks import check_argument, is_real

__all__ = [
    "LineFunction",
    "LineSearchResult",
    "Phi",
    "backtracking_armijo",
    "exact_quadratic_step",
    "l2_penalty",
    "loss_value",
    "strong_wolfe",
]

Phi = Callable[[float], tuple[float, float]]


@dataclass(frozen=True)
class LineSearchResult:
    """The outcome of a line search.

    Attributes:
        step: the accepted α (0 when the search failed).
        value: φ(step).
        slope: φ'(step).
        evaluations: how many times φ was evaluated.
        success: whether ``step`` satisfies the search's conditions.
        message: what happened, in words.
    """

    step: float
    value: float
    slope: float
    evaluations: int
    success: bool
    message: str


# -- validation ----------------------------------------------------------------------------


def _check_constants(c1: float, c2: float | None = None) -> None:
    check_argument("c1", c1, is_real(c1) and 0 < c1 < 1, "0 < c1 < 1")
    if c2 is not None:
        check_argument("c2", c2, is_real(c2) and c1 < c2 < 1, f"c1 = {c1} < c2 < 1")


def _check_search(initial_step: float, max_evaluations: int) -> None:
    check_argument(
        "initial_step",
        initial_step,
        is_real(initial_step) and 0 < initial_step < math.inf,
        "a finite number > 0",
    )
    check_argument(
        "max_evaluations",
        max_evaluations,
        isinstance(max_evaluations, int)
        and not isinstance(max_evaluations, bool)
        and max_evaluations >= 1,
        "an int >= 1",
    )


def _not_descent(value0: float, slope0: float) -> LineSearchResult | None:
    if not (math.isfinite(value0) and math.isfinite(slope0)):
        message = f"φ(0) = {value0} and φ'(0) = {slope0} must be finite"
        return LineSearchResult(0.0, value0, slope0, 0, False, message)
    if slope0 >= 0:
        message = f"not a descent direction: φ'(0) = {slope0} >= 0"
        return LineSearchResult(0.0, value0, slope0, 0, False, message)
    return None


# -- Algorithm 3.1 -------------------------------------------------------------------------


def backtracking_armijo(
    phi: Phi,
    value0: float,
    slope0: float,
    initial_step: float = 1.0,
    c1: float = 1e-4,
    shrink: float = 0.5,
    max_evaluations: int = 30,
) -> LineSearchResult:
    """Backtracking line search (N&W Algorithm 3.1): the first of α₀, ρα₀, ρ²α₀, … with
    sufficient decrease φ(α) ≤ φ(0) + c₁αφ'(0).

    Args:
        phi: α ↦ (φ(α), φ'(α)).
        value0, slope0: φ(0) and φ'(0) < 0.
        initial_step: α₀ > 0.
        c1: the sufficient-decrease constant, in (0, 1).
        shrink: the contraction factor ρ, in (0, 1).
        max_evaluations: the most evaluations of φ before giving up.
    """
    _check_constants(c1)
    _check_search(initial_step, max_evaluations)
    check_argument("shrink", shrink, is_real(shrink) and 0 < shrink < 1, "0 < shrink < 1")
    refused = _not_descent(value0, slope0)
    if refused is not None:
        return refused
    alpha = float(initial_step)
    for evaluation in range(1, max_evaluations + 1):
        value, slope = phi(alpha)
        if value <= value0 + c1 * alpha * slope0:
            return LineSearchResult(alpha, value, slope, evaluation, True, "sufficient decrease")
        alpha *= shrink
    message = (
        f"no sufficient decrease in {max_evaluations} evaluations (last step {alpha / shrink:g})"
    )
    return LineSearchResult(0.0, value0, slope0, max_evaluations, False, message)


# -- Algorithms 3.5 and 3.6 ----------------------------------------------------------------


@dataclass(frozen=True)
class _Point:
    alpha: float
    value: float
    slope: float


class _WolfeSearch:
    """The state shared by Algorithm 3.5 and its ``zoom`` (3.6)."""

    def __init__(self, phi: Phi, start: _Point, c1: float, c2: float, budget: int) -> None:
        self.phi, self.start, self.c1, self.c2, self.budget = phi, start, c1, c2, budget
        self.evaluations = 0

    def evaluate(self, alpha: float) -> _Point:
        self.evaluations += 1
        value, slope = self.phi(alpha)
        return _Point(alpha, value, slope)

    def sufficient_decrease(self, point: _Point) -> bool:
        """(3.6a); False for a non-finite value, so overflow shortens the step."""
        return point.value <= self.start.value + self.c1 * point.alpha * self.start.slope

    def curvature(self, point: _Point) -> bool:
        """(3.7b), the strong curvature condition."""
        return abs(point.slope) <= -self.c2 * self.start.slope

    def accept(self, point: _Point) -> LineSearchResult:
        return LineSearchResult(
            point.alpha, point.value, point.slope, self.evaluations, True, "strong Wolfe"
        )

    def fail(self, message: str) -> LineSearchResult:
        start = self.start
        return LineSearchResult(0.0, start.value, start.slope, self.evaluations, False, message)

    def exhausted(self) -> bool:
        return self.evaluations >= self.budget

    def bracket(self, first_step: float, max_step: float) -> LineSearchResult:
        """Algorithm 3.5: extrapolate (doubling α, up to ``max_step``) until a trial point
        fails (3.6a), does not improve on the previous one, or has φ' ≥ 0 — each of which
        brackets a strong-Wolfe point — or satisfies both conditions itself."""
        previous, alpha = self.start, first_step
        while not self.exhausted():
            point = self.evaluate(alpha)
            if not self.sufficient_decrease(point) or (
                previous is not self.start and point.value >= previous.value
            ):
                return self.zoom(previous, point)
            if self.curvature(point):
                return self.accept(point)
            if point.slope >= 0:
                return self.zoom(point, previous)
            if alpha >= max_step:
                return self.fail(f"reached max_step = {max_step:g} still descending")
            previous, alpha = point, min(2.0 * alpha, max_step)
        return self.fail(f"no strong-Wolfe step within {self.budget} evaluations")

    def zoom(self, low: _Point, high: _Point) -> LineSearchResult:
        """Algorithm 3.6. Invariants: the interval between ``low`` and ``high`` contains
        strong-Wolfe points; ``low`` has the least value among the trial points satisfying
        (3.6a); ``φ'(low)(high − low) < 0``."""
        while not self.exhausted():
            point = self.evaluate(_interpolate(low, high))
            if not self.sufficient_decrease(point) or point.value >= low.value:
                high = point
            else:
                if self.curvature(point):
                    return self.accept(point)
                if point.slope * (high.alpha - low.alpha) >= 0:
                    high = low
                low = point
            if abs(high.alpha - low.alpha) <= 1e-12 * max(abs(low.alpha), abs(high.alpha)):
                return self.fail(
                    f"interval of uncertainty [{low.alpha:g}, {high.alpha:g}] below rounding"
                )
        return self.fail(f"no strong-Wolfe step within {self.budget} evaluations")


def _interpolate(a: _Point, b: _Point, margin: float = 0.1) -> float:
    """The minimizer of the cubic matching φ and φ' at a and b (N&W eq. 3.59), kept at
    least ``margin`` times the interval's width from either end so that the interval
    shrinks geometrically; the midpoint when the cubic has no minimizer."""
    middle = 0.5 * (a.alpha + b.alpha)
    width = b.alpha - a.alpha
    if not all(map(math.isfinite, (a.value, a.slope, b.value, b.slope))) or width == 0:
        return middle
    d1 = a.slope + b.slope - 3.0 * (a.value - b.value) / (a.alpha - b.alpha)
    radicand = d1 * d1 - a.slope * b.slope
    if radicand < 0:
        return middle
    d2 = math.copysign(math.sqrt(radicand), width)
    denominator = b.slope - a.slope + 2.0 * d2
    if denominator == 0:
        return middle
    alpha = b.alpha - width * (b.slope + d2 - d1) / denominator
    if not math.isfinite(alpha):
        return middle
    low, high = sorted((a.alpha, b.alpha))
    guard = margin * abs(width)
    return min(max(alpha, low + guard), high - guard)


def strong_wolfe(
    phi: Phi,
    value0: float,
    slope0: float,
    initial_step: float = 1.0,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_step: float = 1e10,
    max_evaluations: int = 25,
) -> LineSearchResult:
    """A step satisfying the strong Wolfe conditions (3.6a) and (3.7b), by N&W Algorithms
    3.5 (bracketing) and 3.6 (zoom with cubic interpolation).

    Args:
        phi: α ↦ (φ(α), φ'(α)).
        value0, slope0: φ(0) and φ'(0) < 0.
        initial_step: the first trial α₁ (1 for Newton-like directions).
        c1, c2: 0 < c₁ < c₂ < 1 (0.9 for quasi-Newton, 0.1 for conjugate gradient).
        max_step: α_max, the largest step tried.
        max_evaluations: the most evaluations of φ before giving up.

    Example:
        >>> result = strong_wolfe(lambda a: ((a - 2) ** 2, 2 * (a - 2)), 4.0, -4.0, c2=0.1)
        >>> result.success, result.step
        (True, 2.0)
    """
    _check_constants(c1, c2)
    _check_search(initial_step, max_evaluations)
    check_argument(
        "max_step",
        max_step,
        is_real(max_step) and max_step >= initial_step,
        f"a number >= initial_step = {initial_step}",
    )
    refused = _not_descent(value0, slope0)
    if refused is not None:
        return refused
    search = _WolfeSearch(phi, _Point(0.0, value0, slope0), c1, c2, max_evaluations)
    return search.bracket(float(initial_step), float(max_step))


def exact_quadratic_step(slope0: float, curvature: float) -> float:
    """The minimizer α* = −φ'(0)/φ''(0) = −∇fᵀd / dᵀHd of a quadratic along d.

    Raises:
        ValueError: unless ``curvature`` dᵀHd > 0 (a quadratic has no minimum along a
            direction of zero or negative curvature).
    """
    if not (math.isfinite(curvature) and curvature > 0):
        raise ValueError(
            f"The exact step on a quadratic needs positive curvature dᵀHd > 0, got {curvature}; "
            "the objective is not a convex quadratic along this direction "
            "(use a strong-Wolfe line search)"
        )
    return -slope0 / curvature


# -- φ from a closure ----------------------------------------------------------------------


def l2_penalty(params: Sequence[torch.Tensor], l2: Sequence[float]) -> float:
    """Σᵢ (λᵢ/2)‖θᵢ‖², the objective term of coupled weight decay λᵢ."""
    return sum(
        0.5 * d * float(torch.sum(p.detach() ** 2)) for p, d in zip(params, l2, strict=True) if d
    )


class LineFunction:
    """φ(α) = F(θ + αd), φ'(α) = ∇F(θ + αd)ᵀd for an optimizer's closure.

    ``F(θ) = f(θ) + Σᵢ (λᵢ/2)‖θᵢ‖²``: the closure's loss f plus, when ``l2`` gives a
    coefficient λᵢ per parameter, the L2 penalty that coupled weight decay adds to the
    gradient, so that values and slopes describe the function the method descends.

    Each call moves the parameters to θ + αd, calls the closure (which must zero the
    gradients, back-propagate and return the loss), reads the loss and the gradients, and
    puts the parameters back at θ. :meth:`move_to` then leaves them at the accepted step.

    Args:
        closure: torch.optim's closure.
        params: the tensors θ (their ``.grad`` is read; a missing one counts as zero).
        direction: d, one tensor shaped like each parameter.
        l2: λᵢ for each parameter, or ``None`` for none.
    """

    def __init__(
        self,
        closure: Callable[[], Any],
        params: Sequence[torch.Tensor],
        direction: Sequence[torch.Tensor],
        l2: Sequence[float] | None = None,
    ) -> None:
        if len(direction) != len(params) or any(
            d.shape != p.shape for d, p in zip(direction, params, strict=True)
        ):
            raise ValueError("direction must hold one tensor shaped like each parameter")
        if l2 is not None and len(l2) != len(params):
            raise ValueError(f"l2 must hold one coefficient per parameter ({len(params)})")
        self.closure = closure
        self.params = list(params)
        self.direction = list(direction)
        self.l2 = list(l2) if l2 is not None and any(l2) else None
        self.origin = [p.detach().clone() for p in self.params]
        self.evaluations = 0
        self._last: tuple[float, Any, list[torch.Tensor]] | None = None

    @torch.no_grad()
    def _place(self, alpha: float) -> None:
        torch._foreach_copy_(self.params, self.origin)
        if alpha != 0:
            torch._foreach_add_(self.params, self.direction, alpha=alpha)

    def _gradients(self) -> list[torch.Tensor]:
        grads = _gradient_copies(self.params)
        if self.l2 is not None:
            for grad, param, decay in zip(grads, self.params, self.l2, strict=True):
                if decay != 0:
                    grad.add_(param.detach(), alpha=decay)
        return grads

    def _penalty(self) -> float:
        return 0.0 if self.l2 is None else l2_penalty(self.params, self.l2)

    def _evaluate(self) -> tuple[float, float, Any, list[torch.Tensor]]:
        with torch.enable_grad():
            loss = self.closure()
        self.evaluations += 1
        value = loss_value(loss) + self._penalty()
        grads = self._gradients()
        slope = float(dot(grads, self.direction))
        if not math.isfinite(value):
            value = math.inf
        return value, slope, loss, grads

    def __call__(self, alpha: float) -> tuple[float, float]:
        """(φ(α), φ'(α)); a non-finite loss reads as φ = +inf (the step is too long)."""
        self._place(alpha)
        try:
            value, slope, loss, grads = self._evaluate()
        finally:
            self._place(0.0)
        self._last = (alpha, loss, grads)
        return value, slope

    def move_to(self, alpha: float) -> tuple[Any, list[torch.Tensor]]:
        """Leave the parameters at θ + αd; return the closure's loss and ∇F there
        (remembered from the last evaluation when it was at this α)."""
        self._place(alpha)
        if self._last is not None and self._last[0] == alpha:
            return self._last[1], self._last[2]
        _, _, loss, grads = self._evaluate()
        return loss, grads

    def restore(self) -> None:
        """Put the parameters back at θ."""
        self._place(0.0)


# -- the step of an optimizer that re-evaluates the loss --------------------------------------
# Shared by Newton and ConjugateGradient, which override the base's ``step`` because they
# update all parameter groups together (the start of such a step is the base's
# ``_begin_closure_step``).


def _flat_weight_decay(
    optimizer: Optimizer,
    entries: list[tuple[dict[str, Any], torch.Tensor]],
    grads: list[torch.Tensor],
) -> tuple[list[torch.Tensor], list[float], bool]:
    """The base's weight decay, group by group, over ``(group, param)`` entries in group
    order. Returns the gradients (λθ added for coupled decay), each parameter's coupled λ
    (the L2 coefficient of the objective) and whether decoupled decay moved parameters."""
    decayed: list[torch.Tensor] = []
    l2: list[float] = []
    shrunk = False
    for _, run in itertools.groupby(range(len(entries)), key=lambda i: id(entries[i][0])):
        indices = list(run)
        group = entries[indices[0]][0]
        params = [entries[i][1] for i in indices]
        decayed += optimizer._apply_weight_decay(group, params, [grads[i] for i in indices])
        decoupled, decay = group["decoupled_weight_decay"], float(group["weight_decay"])
        l2 += [0.0 if decoupled else decay] * len(indices)
        shrunk = shrunk or (decoupled and decay != 0)
    return decayed, l2, shrunk


def _gradient_copies(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Copies of the parameters' ``.grad`` (zeros where there is none): the closure
    overwrites them at its next call."""
    return [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params]


def _per_element(values: Sequence[float], params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The flat vector holding ``values[i]`` at every element of ``params[i]``."""
    return torch.cat(
        [
            torch.full((p.numel(),), v, dtype=p.dtype, device=p.device)
            for v, p in zip(values, params, strict=True)
        ]
    )
