r"""Hessian-free optimization (truncated Newton): conjugate gradient on curvature-vector
products, never forming the matrix.

Martens, "Deep learning via Hessian-free optimization", ICML 2010 (with the line search of
Martens & Sutskever, "Training Deep and Recurrent Networks with Hessian-Free Optimization",
2012, §8.8); Goodfellow, Bengio & Courville, *Deep Learning*, §8.6. One step at θ, with
g = ∇f(θ) and B the Gauss–Newton matrix G (or the Hessian H):

1. **Conjugate gradient** on the damped quadratic model
   ``φ(x) = ½ xᵀ(B + λI)x + gᵀx``, using only products ``Bv``
   (:func:`~deepdescent.autodiff.gauss_newton_vector_product` /
   :func:`~deepdescent.autodiff.hessian_vector_product`), started from
   ``x₀ = ζ x_prev`` (ζ = ``warm_start_decay``, 0.95; x_prev the previous step's last CG
   iterate) and stopped by Martens's relative-progress test: at iteration i, with
   k = max(10, ⌊i/10⌋) and ε = ``cg_tolerance`` (5e-4),
   ``i > k,  φ(xᵢ) < 0  and  (φ(xᵢ) − φ(x_{i−k})) / φ(xᵢ) < kε``,
   or after ``max_cg_iter`` iterations, on a direction of non-positive curvature, or when
   the residual vanishes.
2. **Backtracking over the CG iterates**: the iterates at i = ⌈γʲ⌉ (γ = ``backtrack_factor``,
   1.3) and the last are kept; from the last backwards, f(θ + xᵢ) is evaluated while it
   decreases, and the best xᵢ = p is the step.
3. **Levenberg–Marquardt damping**: with the reduction ratio
   ``ρ = (f(θ + p) − f(θ)) / (q(p) − q(0))``, q the *undamped* model ``½ pᵀBp + gᵀp``,
   ``λ ← 2/3 λ`` if ρ > 3/4 and ``λ ← 3/2 λ`` if ρ < 1/4.
4. **Line search** (``line_search=True``): the first α of 1, 0.8, 0.8², … (at most 60) with
   ``f(θ + αp) ≤ f(θ) + 10⁻² α gᵀp`` (Armijo); none: the parameters stay.

Where the curvature comes from (``curvature="auto"`` takes the first that applies):

* ``step(closure, model_outputs=ModelOutputs(outputs_fn, loss_of_outputs))``: the network
  outputs z = f(θ) on the minibatch and the loss as a function of them give the
  Gauss–Newton product ``Jᵀ H_L J v`` (plus the Hessian of the model's penalty, when
  ``model_outputs.penalty`` is given). ``fit`` hands these over at every step (the
  optimizer declares ``model_outputs`` in its
  :class:`~deepdescent.optimizers.contract.TrainingNeeds`), with the minibatch's own
  targets, so any loss convex in z serves; in a plain PyTorch loop, e.g.
  ``opt.step(closure, model_outputs=ModelOutputs(lambda: net(x), lambda z: loss_fn(z, y)))``.
* otherwise the Hessian, through the closure itself
  (:func:`~deepdescent.autodiff.closure_hessian_vector_product`, exact,
  forward-over-reverse): any loss, any loop, as long as the closure's gradients come from
  autograd (``fit`` takes care of it: the optimizer declares ``autograd``).

``curvature="gauss_newton"`` insists on the first (an error otherwise);
``curvature="hessian"`` always uses the Hessian (of ``loss_of_outputs(outputs_fn())`` when
given, else through the closure). Coupled weight decay adds ½λ‖θ‖² to f (and λ to the
curvature), decoupled decay shrinks θ after the step; each group's ``lr`` scales its part
of p (1.0: the full step); clipping shapes g in the quadratic model.

Warning:
    Martens preconditions CG with a diagonal of squared per-sample gradients and computes
    the curvature on a fraction of the gradient's minibatch; here CG is unpreconditioned
    and uses the whole minibatch. The method reads φ, ρ and f on the host: one device
    synchronisation per CG iteration and per evaluation of f. Neither Keras nor torch.optim
    has Hessian-free; the defaults are Martens's (λ₀ = 1 here, which his heuristic adapts).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from deepdescent.autodiff import (
    closure_hessian_vector_product,
    dot,
    gauss_newton_vector_product,
    hessian_vector_product,
)
from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.contract import ModelOutputs, TrainingNeeds
from deepdescent.optimizers.second_order.line_search import LineFunction, backtracking_armijo
from deepdescent.utils._checks import check_argument, check_count

__all__ = [
    "ConjugateGradientRun",
    "HessianFree",
    "Iterate",
    "conjugate_gradient",
    "storage_indices",
]

_Tensors = list[torch.Tensor]
_Product = Callable[[_Tensors], _Tensors]
_CURVATURES = ("auto", "gauss_newton", "hessian")
# The Levenberg–Marquardt rule (Martens 2010, §4.1) and the line search (Martens &
# Sutskever 2012, §8.8) as published.
_DECREASE, _INCREASE, _GOOD_RATIO, _POOR_RATIO = 2.0 / 3.0, 3.0 / 2.0, 0.75, 0.25
_ARMIJO_C1, _ARMIJO_SHRINK, _ARMIJO_EVALUATIONS = 1e-2, 0.8, 60
# Hyperparameters of the one joint iteration, read from the first parameter group.
_SHARED = (
    "damping",
    "curvature",
    "max_cg_iter",
    "cg_tolerance",
    "warm_start_decay",
    "backtrack_factor",
    "line_search",
)


@dataclass
class Iterate:
    """A CG iterate kept for backtracking: its iteration, x, φ(x) and the linear term gᵀx."""

    index: int
    x: _Tensors
    value: float
    linear: float


@dataclass
class ConjugateGradientRun:
    """What one run of CG leaves: the kept iterates (the last included), the last x, and
    why it stopped."""

    kept: list[Iterate] = field(default_factory=list)
    last: _Tensors = field(default_factory=list)
    iterations: int = 0
    reason: str = "max_cg_iter reached"


def storage_indices(factor: float, limit: int) -> set[int]:
    """The iterations ⌈γʲ⌉ (j = 1, 2, …) up to ``limit`` whose iterates backtracking keeps."""
    kept, power = set(), factor
    while math.ceil(power) <= limit:
        kept.add(math.ceil(power))
        power *= factor
    return kept


def conjugate_gradient(
    product: _Product,
    gradient: _Tensors,
    start: _Tensors,
    max_iter: int,
    tolerance: float,
    backtrack_factor: float,
) -> ConjugateGradientRun:
    """CG on φ(x) = ½ xᵀAx + gᵀx (A = ``product``, symmetric) from ``start``, with
    Martens's relative-progress stopping test; keeps the iterates backtracking needs."""
    x = [t.clone() for t in start]
    residual = [-g for g in gradient]  # r = −g − Ax, the negative gradient of φ
    if any(bool(t.any()) for t in x):
        torch._foreach_sub_(residual, product(x))
    direction = [r.clone() for r in residual]
    rr = float(dot(residual, residual))
    keep = storage_indices(backtrack_factor, max_iter)
    values: list[float] = []
    run = ConjugateGradientRun()
    for i in range(1, max_iter + 1):
        a_direction = product(direction)
        curvature = float(dot(direction, a_direction))
        if not curvature > 0:
            run.reason = f"non-positive curvature dᵀAd = {curvature:.3g}"
            break
        alpha = rr / curvature
        torch._foreach_add_(x, direction, alpha=alpha)
        torch._foreach_add_(residual, a_direction, alpha=-alpha)
        value = 0.5 * float(dot(x, torch._foreach_sub(gradient, residual)))  # φ = ½xᵀ(g − r)
        values.append(value)
        run.iterations = i
        if i in keep:
            run.kept.append(Iterate(i, [t.clone() for t in x], value, float(dot(gradient, x))))
        new_rr = float(dot(residual, residual))
        if new_rr == 0:
            run.reason = "the residual vanished (the system is solved)"
            break
        k = max(10, i // 10)
        if i > k and value < 0 and (value - values[i - 1 - k]) / value < k * tolerance:
            run.reason = "relative progress below tolerance"
            break
        torch._foreach_mul_(direction, new_rr / rr)
        torch._foreach_add_(direction, residual)
        rr = new_rr
    run.last = x
    if run.iterations and (not run.kept or run.kept[-1].index != run.iterations):
        run.kept.append(Iterate(run.iterations, x, values[-1], float(dot(gradient, x))))
    return run


class HessianFree(Optimizer):
    """Hessian-free optimization (Martens 2010).

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: scales each group's part of the step (``learning_rate`` is accepted as its
            Keras name). Default 1.0, the full step.
        damping: λ₀ > 0, the initial Levenberg–Marquardt damping (adapted every step).
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm:
            see :class:`~deepdescent.optimizers.base.Optimizer`.
        curvature: ``"auto"``, ``"gauss_newton"`` or ``"hessian"`` (see the module).
        max_cg_iter: the most CG iterations per step (Martens: 250).
        cg_tolerance: ε of the relative-progress test (Martens: 5e-4).
        warm_start_decay: ζ in [0, 1], CG starts at ζ times the previous last iterate.
        backtrack_factor: γ > 1, the spacing of the iterates kept for backtracking.
        line_search: finish with the Armijo backtracking line search.
        foreach, fused: accepted for the common signature.
    """

    training_needs = TrainingNeeds(closure=True, full_batch=True, autograd=True, model_outputs=True)

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        damping: float = 1.0,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        curvature: str = "auto",
        max_cg_iter: int = 250,
        cg_tolerance: float = 5e-4,
        warm_start_decay: float = 0.95,
        backtrack_factor: float = 1.3,
        line_search: bool = True,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument("damping", damping, damping > 0, "damping > 0")
        check_argument(
            "curvature", curvature, curvature in _CURVATURES, "'auto', 'gauss_newton' or 'hessian'"
        )
        check_count("max_cg_iter", max_cg_iter)
        check_argument("cg_tolerance", cg_tolerance, cg_tolerance > 0, "cg_tolerance > 0")
        check_argument(
            "warm_start_decay",
            warm_start_decay,
            0.0 <= warm_start_decay <= 1.0,
            "0 <= warm_start_decay <= 1",
        )
        check_argument(
            "backtrack_factor", backtrack_factor, backtrack_factor > 1, "backtrack_factor > 1"
        )
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1.0),
            "damping": damping,
            "weight_decay": weight_decay,
            "curvature": curvature,
            "max_cg_iter": max_cg_iter,
            "cg_tolerance": cg_tolerance,
            "warm_start_decay": warm_start_decay,
            "backtrack_factor": backtrack_factor,
            "line_search": line_search,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; only ``lr`` and the weight decay may differ from the first group's,
        since all groups take part in one CG iteration."""
        super().add_param_group(param_group)
        first, new = self.param_groups[0], self.param_groups[-1]
        for key in _SHARED:
            if new[key] != first[key]:
                self.param_groups.pop()
                raise ValueError(
                    f"Invalid {key}: {new[key]!r} in a parameter group (expected "
                    f"{first[key]!r} as in the first group: HessianFree optimizes all groups "
                    "jointly)"
                )

    # -- the step --------------------------------------------------------------------

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self,
        closure: Callable[[], torch.Tensor] | None = None,
        *,
        model_outputs: ModelOutputs | None = None,
    ) -> torch.Tensor | None:
        """One Hessian-free step; returns the closure's loss at the starting point.

        Args:
            closure: zeroes the gradients, computes the loss, back-propagates, returns it.
            model_outputs: the network outputs on the closure's minibatch and the loss as
                a function of them, for Gauss–Newton products.
        """
        loss, value = self._begin_closure_step(closure)
        assert closure is not None  # _begin_closure_step raised otherwise
        params, l2, rates = self._participants()
        if params:
            product = self._curvature_product(closure, params, model_outputs)
            self._newton_step(closure, params, l2, rates, value, product)
            self._decay_decoupled()
        self._end_step()
        return loss

    def _participants(self) -> tuple[_Tensors, list[float], list[float]]:
        """The parameters with gradients, each one's coupled L2 coefficient and its lr."""
        params, l2, rates = [], [], []
        for group in self.param_groups:
            coupled = 0.0 if group["decoupled_weight_decay"] else group["weight_decay"]
            for param in group["params"]:
                if param.grad is not None:
                    params.append(param)
                    l2.append(coupled)
                    rates.append(group["lr"])
        return params, l2, rates

    def _curvature_product(
        self,
        closure: Callable[[], torch.Tensor],
        params: _Tensors,
        outputs: ModelOutputs | None,
    ) -> _Product:
        """v ↦ Bv: Gauss–Newton from ``outputs`` (plus the Hessian of their penalty), or the
        Hessian — of the outputs' cost when given, else through the closure."""
        kind = self.param_groups[0]["curvature"]
        if outputs is None:
            if kind == "gauss_newton":
                raise RuntimeError(
                    "HessianFree(curvature='gauss_newton') needs the network outputs: pass "
                    "model_outputs=ModelOutputs(outputs_fn, loss_of_outputs) to step() (fit "
                    "does), or use curvature='hessian'"
                )
            return lambda v: closure_hessian_vector_product(closure, params, v)[1]
        model, penalty = outputs, outputs.penalty
        if kind == "hessian":

            def cost() -> torch.Tensor:
                value = model.loss_of_outputs(model.outputs_fn())
                return value if penalty is None else value + penalty()

            return lambda v: hessian_vector_product(cost, params, v)

        def gauss_newton(v: _Tensors) -> _Tensors:
            result = gauss_newton_vector_product(model.outputs_fn, model.loss_of_outputs, params, v)
            if penalty is not None:
                torch._foreach_add_(result, hessian_vector_product(penalty, params, v))
            return result

        return gauss_newton

    def _newton_step(
        self,
        closure: Callable[[], torch.Tensor],
        params: _Tensors,
        l2: list[float],
        rates: list[float],
        value: float,
        product: _Product,
    ) -> None:
        """Steps 1–4 of the module docstring, from the closure's loss ``value`` at θ."""
        options = self.param_groups[0]
        home = self.state[options["params"][0]]
        damping = home.setdefault("damping", float(options["damping"]))
        gradient = [p.grad.detach().clone() for p in params]  # type: ignore[union-attr]
        for grad, param, decay in zip(gradient, params, l2, strict=True):
            if decay:
                grad.add_(param, alpha=decay)
        value += sum(0.5 * d * float(torch.sum(p * p)) for p, d in zip(params, l2, strict=True))
        model_gradient = [g.clone() for g in gradient]
        self._clip_gradients(model_gradient)

        def curvature(v: _Tensors) -> _Tensors:  # B v with the coupled decay's λv
            result = product(v)
            for out, vector, decay in zip(result, v, l2, strict=True):
                if decay:
                    out.add_(vector, alpha=decay)
            return result

        def damped(v: _Tensors) -> _Tensors:
            result = curvature(v)
            torch._foreach_add_(result, v, alpha=damping)
            return result

        start = [
            self.state[p]["cg_direction"] * options["warm_start_decay"]
            if "cg_direction" in self.state[p]
            else torch.zeros_like(p)
            for p in params
        ]
        run = conjugate_gradient(
            damped,
            model_gradient,
            start,
            options["max_cg_iter"],
            options["cg_tolerance"],
            options["backtrack_factor"],
        )
        home["cg_iterations"] = run.iterations
        for param, last in zip(params, run.last, strict=True):
            self.state[param]["cg_direction"] = last
        if not run.kept:
            home["damping"] = damping * _INCREASE
            return
        chosen, line, new_value = self._backtrack(closure, params, l2, rates, run)
        predicted = self._predicted_reduction(chosen, damping, rates, model_gradient, curvature)
        ratio = (new_value - value) / predicted if predicted < 0 else -math.inf
        if ratio > _GOOD_RATIO:
            damping *= _DECREASE
        elif ratio < _POOR_RATIO:
            damping *= _INCREASE
        home["damping"] = damping
        home["reduction_ratio"] = ratio
        self._take(line, value, new_value, float(dot(gradient, line.direction)))

    @staticmethod
    def _predicted_reduction(
        chosen: Iterate,
        damping: float,
        rates: list[float],
        model_gradient: _Tensors,
        curvature: _Product,
    ) -> float:
        """q(p) − q(0) = gᵀp + ½ pᵀBp for the step p = D x, B undamped. With one lr η it
        follows from CG's numbers (xᵀBx = 2(φ(x) − gᵀx) − λ‖x‖²); otherwise one product."""
        if len(set(rates)) == 1:
            eta = rates[0]
            quadratic = 2.0 * (chosen.value - chosen.linear) - damping * float(
                dot(chosen.x, chosen.x)
            )
            return eta * chosen.linear + 0.5 * eta**2 * quadratic
        step = [x * rate for x, rate in zip(chosen.x, rates, strict=True)]
        return float(dot(model_gradient, step)) + 0.5 * float(dot(step, curvature(step)))

    @staticmethod
    def _backtrack(
        closure: Callable[[], torch.Tensor],
        params: _Tensors,
        l2: list[float],
        rates: list[float],
        run: ConjugateGradientRun,
    ) -> tuple[Iterate, LineFunction, float]:
        """From the last kept iterate backwards while f(θ + D xᵢ) decreases: the best
        iterate, the line function along its step and f there."""
        best: tuple[Iterate, LineFunction, float] | None = None
        for kept in reversed(run.kept):
            direction = [x * rate for x, rate in zip(kept.x, rates, strict=True)]
            line = LineFunction(closure, params, direction, l2)
            value, _ = line(1.0)
            if best is not None and not value < best[2]:
                break
            best = (kept, line, value)
        assert best is not None
        return best

    def _take(self, line: LineFunction, value: float, new_value: float, slope: float) -> None:
        """Leave θ at θ + α p: α = 1 without the line search, else Armijo's choice (θ
        unchanged when it finds none)."""
        if not self.param_groups[0]["line_search"]:
            line.move_to(1.0)
            return

        def phi(alpha: float) -> tuple[float, float]:
            return (new_value, math.nan) if alpha == 1.0 else line(alpha)

        result = backtracking_armijo(
            phi,
            value,
            slope,
            c1=_ARMIJO_C1,
            shrink=_ARMIJO_SHRINK,
            max_evaluations=_ARMIJO_EVALUATIONS,
        )
        if result.success:
            line.move_to(result.step)
        else:
            line.restore()

    def _decay_decoupled(self) -> None:
        """θ ← (1 − lr λ) θ for the groups with decoupled weight decay, after the step."""
        for group in self.param_groups:
            if group["decoupled_weight_decay"] and group["weight_decay"]:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    torch._foreach_mul_(params, 1.0 - group["lr"] * group["weight_decay"])
