r"""Hessian-free optimization (truncated Newton): conjugate gradient on curvature-vector
products, never forming the matrix.

Martens, "Deep learning via Hessian-free optimization", ICML 2010 (with the line search of
Martens & Sutskever, "Training Deep and Recurrent Networks with Hessian-Free Optimization",
2012, §8.8); Goodfellow, Bengio & Courville, *Deep Learning*, §8.6. One step at θ, with
g = ∇f(θ) on the step's minibatch and B the Gauss–Newton matrix G (or the Hessian H). Each
ingredient of Martens's is here with his section, its default, and a switch that turns it
off (so a test can show what it buys):

1. **Curvature on a smaller minibatch** (§4.3; ``curvature_fraction``, default 1/4, 1:
   off): B is taken on a fraction of the gradient's minibatch — consecutive sub-batches in
   turn, one per step — so each product costs that fraction of a pass. The products reuse
   one set of graphs per step (:class:`~deepdescent.autodiff.GaussNewton`): two backward
   passes each.
2. **Preconditioned conjugate gradient** on the damped quadratic model
   ``φ(x) = ½ xᵀ(B + λI)x + gᵀx``, with Martens's diagonal preconditioner (§4.7;
   ``preconditioner="diagonal"``, ``None``: off)
   ``M = (diag((1/N) Σₙ ∇ℓₙ ⊙ ∇ℓₙ) + λ I)^ξ``, ξ = ``preconditioner_exponent`` (0.75),
   ℓₙ the loss of example n. The squared per-example gradients are not an estimate: for
   every layer the optimizer taps (``prepare``, as for K-FAC) their sum is one matrix
   product, ``(ã ⊙ ã)ᵀ(g ⊙ g)`` of the layer's inputs and output gradients recorded on the
   step's gradient pass (Goodfellow 2015) — the closure's inside ``step``, or the last
   training pass before it (``fit`` evaluates the gradient before calling ``step``); a
   parameter outside those layers takes 0 there (M = λ^ξ for it), and without any tap M
   is a multiple of I, i.e. plain CG. ``preconditioner_fraction`` (1: off) averages them
   over the first part of the pass's examples only, a matrix product that much smaller.
3. **Warm start** (§4.5; ``warm_start_decay`` ζ, 0.95; 0: off): CG starts from
   ``x₀ = ζ x_prev``, x_prev the previous step's last CG iterate.
4. **Martens's relative-progress stopping rule** (§4.4; ``cg_tolerance`` ε, 5e-4;
   ``None``: off, CG runs to ``max_cg_iter``): at iteration i, with k = max(10, ⌊i/10⌋),
   stop when ``i > k,  φ(xᵢ) < 0  and  (φ(xᵢ) − φ(x_{i−k})) / φ(xᵢ) < kε``; CG also stops
   after ``max_cg_iter`` iterations (250), on a direction of non-positive curvature, or
   when the residual vanishes.
5. **CG-backtracking** (§4.6; ``backtracking``, on): the iterates at i = ⌈γʲ⌉
   (γ = ``backtrack_factor``, 1.3) and the last are kept; from the last backwards,
   f(θ + xᵢ) is evaluated while it decreases, and the best xᵢ = p is the step (off: the
   last iterate).
6. **Levenberg–Marquardt damping** (§4.1; ``adapt_damping``, on; off: λ stays at
   ``damping``): with the reduction ratio ``ρ = (f(θ + p) − f(θ)) / (q(p) − q(0))``, q the
   *undamped* model ``½ pᵀBp + gᵀp``, ``λ ← 2/3 λ`` if ρ > 3/4 and ``λ ← 3/2 λ`` if
   ρ < 1/4.
7. **Line search** (Martens & Sutskever 2012, §8.8; ``line_search``, on): the first α of
   1, 0.8, 0.8², … (at most 60) with ``f(θ + αp) ≤ f(θ) + 10⁻² α gᵀp`` (Armijo); none:
   the parameters stay.

The values of f that steps 5–7 read come from one forward pass each
(``model_outputs.cost()``) when the step has the model's outputs, from the closure (a
forward and a backward pass) otherwise.

Where the curvature comes from (``curvature="auto"`` takes the first that applies):

* ``step(closure, model_outputs=ModelOutputs(outputs_fn, loss_of_outputs))``: the network
  outputs z = f(θ) on the minibatch and the loss as a function of them give the
  Gauss–Newton product ``Jᵀ H_L J v`` (plus the Hessian of the model's penalty, when
  ``model_outputs.penalty`` is given). ``fit`` hands these over at every step (the
  optimizer declares ``model_outputs`` in its
  :class:`~deepdescent.optimizers.contract.TrainingNeeds`), with the minibatch's own
  targets, so any loss convex in z serves; in a plain PyTorch loop, e.g.
  ``opt.step(closure, model_outputs=ModelOutputs(lambda: net(x), lambda z: loss_fn(z, y)))``
  (with ``batch_size`` and ``rows`` for step 1).
* otherwise the Hessian, through the closure itself
  (:func:`~deepdescent.autodiff.closure_hessian_vector_product`, exact,
  forward-over-reverse): any loss, any loop, as long as the closure's gradients come from
  autograd (``fit`` takes care of it: the optimizer declares ``autograd``).

``curvature="gauss_newton"`` insists on the first (an error otherwise);
``curvature="hessian"`` always uses the Hessian (of ``model_outputs.cost()`` when given,
else through the closure). Coupled weight decay adds ½λ‖θ‖² to f (and λ to the
curvature), decoupled decay shrinks θ after the step; each group's ``lr`` scales its part
of p (1.0: the full step); clipping shapes g in the quadratic model. A step reports its CG
iterations to ``progress`` (``fit``'s progress bar at ``verbose=1``).

Warning:
    Martens computes the gradient on the whole training set; under ``fit`` it is the
    step's minibatch (the whole set with ``batch_size=None``). The method reads φ, ρ and f
    on the host: one device synchronisation per CG iteration and per evaluation of f.
    Neither Keras nor torch.optim has Hessian-free; the defaults are Martens's (λ₀ = 1
    here, which his heuristic adapts).

Note:
    With minibatches instead of Martens's whole-set gradient, a short CG run per step
    can buy more per second than a long one: on the deep autoencoder of
    ``benchmarks/second_order.py`` (5000 images, CPU) ``max_cg_iter=6``,
    ``curvature_fraction=0.1`` and ``backtracking=False`` at batch 500 ended 10 epochs
    below Adam's error at about 3 times Adam's time per epoch, where 10 iterations with
    backtracking ended lower still at about 4 times (BENCHMARKS.md).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from deepdescent.autodiff import (
    GaussNewton,
    closure_hessian_vector_product,
    dot,
    hessian_vector_product,
)
from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.contract import ModelOutputs, Progress, TrainingNeeds
from deepdescent.optimizers.second_order.layer_taps import LayerTap, tap_layers, warn_untapped
from deepdescent.optimizers.second_order.line_search import LineFunction, backtracking_armijo
from deepdescent.utils._checks import check_argument, check_count, is_number

if TYPE_CHECKING:
    from deepdescent.layers.recording import LayerRecord

__all__ = [
    "ConjugateGradientRun",
    "HessianFree",
    "Iterate",
    "backtrack",
    "conjugate_gradient",
    "storage_indices",
]

_Tensors = list[torch.Tensor]
_Product = Callable[[_Tensors], _Tensors]
_CURVATURES = ("auto", "gauss_newton", "hessian")
_PRECONDITIONERS = ("diagonal", None)
# The Levenberg–Marquardt rule (Martens 2010, §4.1) and the line search (Martens &
# Sutskever 2012, §8.8) as published.
_DECREASE, _INCREASE, _GOOD_RATIO, _POOR_RATIO = 2.0 / 3.0, 3.0 / 2.0, 0.75, 0.25
_ARMIJO_C1, _ARMIJO_SHRINK, _ARMIJO_EVALUATIONS = 1e-2, 0.8, 60
# Hyperparameters of the one joint iteration, read from the first parameter group.
_SHARED = (
    "damping",
    "curvature",
    "curvature_fraction",
    "preconditioner",
    "preconditioner_exponent",
    "preconditioner_fraction",
    "max_cg_iter",
    "cg_tolerance",
    "warm_start_decay",
    "backtracking",
    "backtrack_factor",
    "adapt_damping",
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
    tolerance: float | None,
    backtrack_factor: float | None,
    preconditioner: _Tensors | None = None,
    progress: Callable[[int], None] | None = None,
    workspace: list[_Tensors] | None = None,
) -> ConjugateGradientRun:
    """Preconditioned CG on φ(x) = ½ xᵀAx + gᵀx (A = ``product``, symmetric) from
    ``start``, with Martens's relative-progress stopping test (``tolerance`` ε; ``None``
    runs to ``max_iter``); keeps the iterates backtracking needs (``backtrack_factor``
    γ; ``None``: the last one only). ``preconditioner`` is the diagonal of M (positive;
    ``None``: M = I), ``progress(i)`` is called after iteration i. The kept iterates are
    copied into the tensors of ``workspace`` (a list of tensor lists shaped like x,
    extended as needed, overwritten; fresh copies when ``None``)."""
    # Contiguous copies: a strided vector (a parameter stored transposed) makes every dot
    # and update of the iteration several times slower.
    x = [t.contiguous().clone() for t in start]
    residual = [-g.contiguous() for g in gradient]  # r = −g − Ax, the negative gradient of φ
    value = 0.0  # φ(x)
    if any(bool(t.any()) for t in x):
        torch._foreach_sub_(residual, product(x))
        value = 0.5 * float(dot(x, gradient) - dot(x, residual))  # φ = ½xᵀ(g − r)
    # The vectors of the iteration are updated in place: a fresh tensor the size of the
    # model costs more than the arithmetic on it (its pages are new to the process).
    solved = residual if preconditioner is None else [torch.empty_like(r) for r in residual]
    _precondition(solved, residual, preconditioner)  # z = M⁻¹r
    direction = [z.clone() for z in solved]
    rz = float(dot(residual, solved))
    keep = set() if backtrack_factor is None else storage_indices(backtrack_factor, max_iter)
    values: list[float] = []
    run = ConjugateGradientRun()
    for i in range(1, max_iter + 1):
        a_direction = [t.contiguous() for t in product(direction)]
        curvature = float(dot(direction, a_direction))
        if not curvature > 0:
            run.reason = f"non-positive curvature dᵀAd = {curvature:.3g}"
            break
        alpha = rz / curvature
        torch._foreach_add_(x, direction, alpha=alpha)
        torch._foreach_add_(residual, a_direction, alpha=-alpha)
        # φ(x + αd) = φ(x) − α dᵀr + ½α² dᵀAd, and dᵀr = rᵀz (the previous directions are
        # conjugate, r orthogonal to them): two passes over the vectors fewer than ½xᵀ(g − r).
        value -= 0.5 * alpha * rz
        values.append(value)
        run.iterations = i
        if progress is not None:
            progress(i)
        if i in keep:
            copy = _stored(x, workspace, len(run.kept))
            run.kept.append(Iterate(i, copy, value, float(dot(gradient, x))))
        _precondition(solved, residual, preconditioner)
        new_rz = float(dot(residual, solved))
        if new_rz == 0:
            run.reason = "the residual vanished (the system is solved)"
            break
        k = max(10, i // 10)
        if (
            tolerance is not None
            and i > k
            and value < 0
            and (value - values[i - 1 - k]) / value < k * tolerance
        ):
            run.reason = "relative progress below tolerance"
            break
        for d, z in zip(direction, solved, strict=True):  # d ← z + (rᵀz / r_prevᵀz_prev) d
            torch.add(z, d, alpha=new_rz / rz, out=d)
        rz = new_rz
    run.last = x
    if run.iterations and (not run.kept or run.kept[-1].index != run.iterations):
        run.kept.append(Iterate(run.iterations, x, values[-1], float(dot(gradient, x))))
    return run


def _precondition(solved: _Tensors, residual: _Tensors, diagonal: _Tensors | None) -> None:
    """z ← M⁻¹r in place (``solved`` is ``residual`` itself when M = I)."""
    if diagonal is not None:
        for out, r, m in zip(solved, residual, diagonal, strict=True):
            torch.div(r, m, out=out)


def _stored(x: _Tensors, workspace: list[_Tensors] | None, slot: int) -> _Tensors:
    """A copy of x in ``workspace[slot]`` (made or remade there when missing or shaped
    otherwise), or a fresh copy without a workspace."""
    if workspace is None:
        return [t.clone() for t in x]
    if slot == len(workspace):
        workspace.append([])
    buffers = workspace[slot]
    if len(buffers) != len(x) or any(
        b.shape != t.shape or b.dtype != t.dtype or b.device != t.device
        for b, t in zip(buffers, x, strict=False)
    ):
        buffers[:] = [torch.empty_like(t) for t in x]
    torch._foreach_copy_(buffers, x)
    return buffers


def _power(tensor: torch.Tensor, exponent: float) -> torch.Tensor:
    """``tensor ** exponent`` in place (positive entries), by square roots where the
    exponent allows: ``pow`` costs several times a square root per element."""
    if exponent == 0.75:
        return tensor.mul_(tensor.sqrt()).sqrt_()
    if exponent == 0.5:
        return tensor.sqrt_()
    return tensor if exponent == 1 else tensor.pow_(exponent)


def backtrack(evaluate: Callable[[Iterate], float], kept: Sequence[Iterate]) -> tuple[int, float]:
    """Martens's CG-backtracking (§4.6): from the last kept iterate backwards, evaluate
    f(θ + xᵢ) while it decreases; the index (into ``kept``) of the best one evaluated and
    its value."""
    best_index, best_value = len(kept) - 1, evaluate(kept[-1])
    for index in range(len(kept) - 2, -1, -1):
        value = evaluate(kept[index])
        if not value < best_value:
            break
        best_index, best_value = index, value
    return best_index, best_value


class HessianFree(Optimizer):
    """Hessian-free optimization (Martens 2010).

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: scales each group's part of the step (``learning_rate`` is accepted as its
            Keras name). Default 1.0, the full step.
        damping: λ₀ > 0, the initial Levenberg–Marquardt damping.
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm:
            see :class:`~deepdescent.optimizers.base.Optimizer`.
        curvature: ``"auto"``, ``"gauss_newton"`` or ``"hessian"`` (see the module).
        curvature_fraction: the part of the minibatch B is taken on, in (0, 1] (1/4).
        preconditioner: ``"diagonal"`` (Martens's) or ``None``.
        preconditioner_exponent: ξ in (0, 1] (0.75).
        preconditioner_fraction: the part of the gradient pass's examples the squared
            gradients are averaged over, in (0, 1] (1: all, Martens).
        max_cg_iter: the most CG iterations per step (Martens: 250).
        cg_tolerance: ε > 0 of the relative-progress test (Martens: 5e-4), or ``None``.
        warm_start_decay: ζ in [0, 1], CG starts at ζ times the previous last iterate.
        backtracking: choose the best kept CG iterate (Martens), or take the last.
        backtrack_factor: γ > 1, the spacing of the iterates kept for backtracking.
        adapt_damping: adapt λ by Levenberg–Marquardt, or keep it.
        line_search: finish with the Armijo backtracking line search.
        foreach, fused: accepted for the common signature.

    The optimizer's numbers live in the state of the first parameter: ``damping`` (λ),
    ``reduction_ratio``, ``cg_iterations`` and ``cg_stop`` (why CG stopped). Between
    steps it keeps the tensors of the kept CG iterates (one copy of the parameters per
    iteration ⌈γʲ⌉ reached so far) to reuse them: the memory a step needs anyway.
    """

    training_needs = TrainingNeeds(
        closure=True, full_batch=True, autograd=True, model_outputs=True, progress=True
    )

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        damping: float = 1.0,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        curvature: str = "auto",
        curvature_fraction: float = 0.25,
        preconditioner: str | None = "diagonal",
        preconditioner_exponent: float = 0.75,
        preconditioner_fraction: float = 1.0,
        max_cg_iter: int = 250,
        cg_tolerance: float | None = 5e-4,
        warm_start_decay: float = 0.95,
        backtracking: bool = True,
        backtrack_factor: float = 1.3,
        adapt_damping: bool = True,
        line_search: bool = True,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument("damping", damping, is_number(damping) and damping > 0, "damping > 0")
        check_argument(
            "curvature", curvature, curvature in _CURVATURES, "'auto', 'gauss_newton' or 'hessian'"
        )
        check_argument(
            "curvature_fraction",
            curvature_fraction,
            is_number(curvature_fraction) and 0 < curvature_fraction <= 1,
            "a number in (0, 1]",
        )
        check_argument(
            "preconditioner",
            preconditioner,
            preconditioner in _PRECONDITIONERS,
            "'diagonal' or None",
        )
        check_argument(
            "preconditioner_exponent",
            preconditioner_exponent,
            is_number(preconditioner_exponent) and 0 < preconditioner_exponent <= 1,
            "a number in (0, 1]",
        )
        check_argument(
            "preconditioner_fraction",
            preconditioner_fraction,
            is_number(preconditioner_fraction) and 0 < preconditioner_fraction <= 1,
            "a number in (0, 1]",
        )
        check_count("max_cg_iter", max_cg_iter)
        check_argument(
            "cg_tolerance",
            cg_tolerance,
            cg_tolerance is None or (is_number(cg_tolerance) and cg_tolerance > 0),
            "a number > 0 or None",
        )
        check_argument(
            "warm_start_decay",
            warm_start_decay,
            0.0 <= warm_start_decay <= 1.0,
            "0 <= warm_start_decay <= 1",
        )
        check_argument(
            "backtrack_factor", backtrack_factor, backtrack_factor > 1, "backtrack_factor > 1"
        )
        for name, flag in (
            ("backtracking", backtracking),
            ("adapt_damping", adapt_damping),
            ("line_search", line_search),
        ):
            check_argument(name, flag, isinstance(flag, bool), "True or False")
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1.0),
            "damping": damping,
            "weight_decay": weight_decay,
            "curvature": curvature,
            "curvature_fraction": curvature_fraction,
            "preconditioner": preconditioner,
            "preconditioner_exponent": preconditioner_exponent,
            "preconditioner_fraction": preconditioner_fraction,
            "max_cg_iter": max_cg_iter,
            "cg_tolerance": cg_tolerance,
            "warm_start_decay": warm_start_decay,
            "backtracking": backtracking,
            "backtrack_factor": backtrack_factor,
            "adapt_damping": adapt_damping,
            "line_search": line_search,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)
        self._taps: list[LayerTap] = []
        # The taps record any training pass between steps (``fit`` evaluates the step's
        # gradient before calling ``step``) and the closure's inside a step, never the
        # step's own curvature products and evaluations of f.
        self._tapping = True
        # The tensors CG copies its kept iterates into, reused from step to step.
        self._workspace: list[_Tensors] = []

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

    # -- the contract with the training loop ---------------------------------------

    def needs(self) -> TrainingNeeds:
        """A closure on the whole training set by default (a batch method), autograd, the
        step's model outputs, progress reports, and the layers' statistics for the
        diagonal preconditioner."""
        diagonal = self._spec_defaults["preconditioner"] == "diagonal"
        return dataclasses.replace(self.training_needs, layer_statistics=diagonal)

    def prepare(self, layers: Sequence[LayerRecord]) -> None:
        """Tap the layers whose weights this optimizer holds, for the per-example squared
        gradients of the diagonal preconditioner (replacing earlier taps)."""
        self._require_bound()
        self.release()
        if self.param_groups[0]["preconditioner"] != "diagonal":
            return
        held = [p for group in self.param_groups for p in group["params"]]
        self._taps = tap_layers(layers, held, lambda: self._tapping)
        warn_untapped(
            "HessianFree",
            self._taps,
            self.param_groups,
            "the diagonal preconditioner takes 0 for their squared gradients",
        )

    def release(self) -> None:
        """Remove the taps that :meth:`prepare` put on the layers."""
        for tap in self._taps:
            tap.detach()
        self._taps = []

    # -- the step --------------------------------------------------------------------

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self,
        closure: Callable[[], torch.Tensor] | None = None,
        *,
        model_outputs: ModelOutputs | None = None,
        progress: Progress | None = None,
    ) -> torch.Tensor | None:
        """One Hessian-free step; returns the closure's loss at the starting point.

        Args:
            closure: zeroes the gradients, computes the loss, back-propagates, returns it.
            model_outputs: the network outputs on the closure's minibatch and the loss as
                a function of them, for Gauss–Newton products and cheap values of f.
            progress: called with (i, max_cg_iter, "CG") after CG iteration i.
        """
        loss, value = self._begin_closure_step(closure)
        assert closure is not None  # _begin_closure_step raised otherwise
        params, l2, rates = self._participants()
        self._tapping = False
        try:
            if params:
                product = self._curvature_product(closure, params, model_outputs)
                # f alone, for steps 5–7: a forward pass when the outputs are at hand.
                values = (
                    _Values(closure, True)
                    if model_outputs is None
                    else _Values(model_outputs.cost, False)
                )
                report = _cg_progress(progress, self.param_groups[0]["max_cg_iter"])
                self._newton_step(values, params, l2, rates, value, product, report)
                self._decay_decoupled()
        finally:
            self._tapping = True
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
        """v ↦ Bv: Gauss–Newton from ``outputs`` (on this step's sub-batch, plus the
        Hessian of their penalty), or the Hessian — of the outputs' cost when given, else
        through the closure."""
        options = self.param_groups[0]
        kind = options["curvature"]
        if outputs is None:
            if kind == "gauss_newton":
                raise RuntimeError(
                    "HessianFree(curvature='gauss_newton') needs the network outputs: pass "
                    "model_outputs=ModelOutputs(outputs_fn, loss_of_outputs) to step() (fit "
                    "does), or use curvature='hessian'"
                )
            return lambda v: closure_hessian_vector_product(closure, params, v)[1]
        part = outputs.chunk(options["curvature_fraction"], self.iterations)
        if kind == "hessian":
            return lambda v: hessian_vector_product(part.cost, params, v)
        operator = GaussNewton(part.outputs_fn, part.loss_of_outputs, params)
        penalty = part.penalty

        def gauss_newton(v: _Tensors) -> _Tensors:
            result = operator(v)
            if penalty is not None:
                torch._foreach_add_(result, hessian_vector_product(penalty, params, v))
            return result

        return gauss_newton

    def _preconditioner(self, params: _Tensors, damping: float) -> _Tensors | None:
        """Martens's ``(diag((1/N) Σₙ ∇ℓₙ²) + λ)^ξ`` (§4.7) from the taps' record of the
        step's gradient pass, or ``None`` (no preconditioner)."""
        options = self.param_groups[0]
        if options["preconditioner"] is None:
            return None
        if not self._taps and not self.state[options["params"][0]].get("warned_untapped"):
            self.state[options["params"][0]]["warned_untapped"] = True
            warnings.warn(
                "HessianFree(preconditioner='diagonal') has no per-example statistics: "
                "call prepare(deepdescent.layers.recording.recordable_layers(model)) "
                "first (fit does), or pass preconditioner=None; CG runs unpreconditioned",
                RuntimeWarning,
                stacklevel=4,
            )
        squares: dict[torch.Tensor, torch.Tensor] = {}
        for tap in self._taps:
            squares.update(tap.squared_gradient_sums(options["preconditioner_fraction"]) or {})
        exponent = options["preconditioner_exponent"]
        return [
            _power(squares[p].add_(damping), exponent)
            if p in squares
            else torch.full_like(p, damping**exponent)
            for p in params
        ]

    def _newton_step(
        self,
        values: _Values,
        params: _Tensors,
        l2: list[float],
        rates: list[float],
        value: float,
        product: _Product,
        progress: Callable[[int], None] | None,
    ) -> None:
        """Steps 2–7 of the module docstring, from the closure's loss ``value`` at θ."""
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
            options["backtrack_factor"] if options["backtracking"] else None,
            preconditioner=self._preconditioner(params, damping),
            progress=progress,
            workspace=self._workspace,
        )
        home["cg_iterations"], home["cg_stop"] = run.iterations, run.reason
        for param, last in zip(params, run.last, strict=True):
            self.state[param]["cg_direction"] = last
        if not run.kept:
            if options["adapt_damping"]:
                home["damping"] = damping * _INCREASE
            return
        lines: dict[int, LineFunction] = {}

        def evaluate(kept: Iterate) -> float:
            direction = (
                kept.x
                if all(rate == 1 for rate in rates)
                else [x * rate for x, rate in zip(kept.x, rates, strict=True)]
            )
            line = lines[kept.index] = values.line(params, direction, l2)
            return line(1.0)[0]

        if options["backtracking"]:
            index, new_value = backtrack(evaluate, run.kept)
        else:
            index, new_value = len(run.kept) - 1, evaluate(run.kept[-1])
        chosen = run.kept[index]
        predicted = self._predicted_reduction(chosen, damping, rates, model_gradient, curvature)
        ratio = (new_value - value) / predicted if predicted < 0 else -math.inf
        if options["adapt_damping"]:
            if ratio > _GOOD_RATIO:
                damping *= _DECREASE
            elif ratio < _POOR_RATIO:
                damping *= _INCREASE
        home["damping"] = damping
        home["reduction_ratio"] = ratio
        line = lines[chosen.index]
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


def _cg_progress(progress: Progress | None, total: int) -> Callable[[int], None] | None:
    """CG's ``progress(i)`` reported as (i, ``max_cg_iter``, "CG") to the loop's callable."""
    if progress is None:
        return None
    return lambda i: progress(i, total, "CG")


@dataclass(frozen=True)
class _Values:
    """How f is evaluated along a step: the closure (a forward and a backward pass), or a
    function of the parameters alone (a forward pass; ``slopes`` False)."""

    evaluate: Callable[[], Any]
    slopes: bool

    def line(self, params: _Tensors, direction: _Tensors, l2: list[float]) -> LineFunction:
        return LineFunction(self.evaluate, params, direction, l2, slopes=self.slopes)
