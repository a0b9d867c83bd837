r"""What BFGS and L-BFGS share: the line-search iteration around an inverse-Hessian
approximation Hₖ, with its curvature pairs, stopping tests and the base's behaviour.

Nocedal & Wright, *Numerical Optimization* (2nd ed., 2006), Algorithms 6.1 and 7.5. One
iteration, with g = ∇F(θₖ)::

    dₖ = −D Hₖ ĝ             (ĝ: g after the base's clipping; D = diag(lr of each group))
    αₖ: line search on φ(α) = F(θₖ + α dₖ), first trial 1 (min(1, 1/‖ĝ‖₂) while Hₖ = I)
    sₖ = θₖ₊₁ − θₖ,  yₖ = ∇F(θₖ₊₁) − ∇F(θₖ)
    update Hₖ with (sₖ, yₖ) only if sₖᵀyₖ > ε ‖sₖ‖ ‖yₖ‖, else skip the pair

and one ``step(closure)`` runs up to ``max_iter`` of them, stopping as torch.optim.LBFGS
does: ``max |g| <= tolerance_grad``; ``gᵀd``, ``max |s|`` or the change of F below
``tolerance_change``; ``max_eval`` evaluations; and, torch's line search having no
counterpart, when the predicted decrease −gᵀd α₀ is below the rounding of F (ε |F|). φ is the
shared :class:`~deepdescent.optimizers.second_order.line_search.LineFunction`; the searches are
its module's ``strong_wolfe`` and ``backtracking_armijo``.

The parameters of every group are one vector θ (in the widest floating dtype, on the
device of the first parameter of that dtype), so the method sees one function of all of
them, as torch.optim's LBFGS does for its single group. Per group, ``lr`` scales that
group's part of the step (with one lr it is torch's step t; ``lr=0`` freezes a group) and
``weight_decay`` λ is either coupled, F = f + ½λ‖θ_g‖² (so ∇F = ∇f + λθ_g and the line
search sees the same function), or decoupled, θ_g ← (1 − lr λ) θ_g once after the step's
iterations (before them, as the base does, the closure's gradient would belong to
another point). Parameters without a gradient do not move.

Minibatches: every pair (s, y) comes from two gradients computed within one ``step`` by
its closure, i.e. on the same minibatch (Schraudolph, Yu & Günter 2007), never from two
batches; and pairs with little or negative curvature, common on minibatches and
non-convex losses, are skipped, which keeps Hₖ positive definite. A line search that
fails leaves the parameters where its iteration began, clears Hₖ and warns.

The line search reads φ(α) and φ′(α) as Python numbers, so each evaluation of the closure
synchronises with the device once; the recursions keep their scalars on the device.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any, cast

import torch

from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.optimizers.second_order.line_search import (
    LineFunction,
    LineSearchResult,
    backtracking_armijo,
    loss_value,
    strong_wolfe,
)
from deepdescent.utils._checks import check_argument, check_count, is_number

Closure = Callable[[], torch.Tensor]
LINE_SEARCHES = ("strong_wolfe", "backtracking", None)
# Hyperparameters that may differ between parameter groups; the others describe the one
# joint iteration and must agree.
PER_GROUP = ("params", "param_names", "lr", "weight_decay", "decoupled_weight_decay")


class FlatParameters:
    """All parameters of all groups laid end to end as one vector.

    The vector's dtype is the widest floating dtype among the parameters and it lives on
    the device of the first parameter of that dtype (:attr:`home`, whose state also holds
    the method's state, so ``load_state_dict`` casts it back to the same dtype/device).
    """

    def __init__(self, groups: list[dict[str, Any]]) -> None:
        self.params = [p for group in groups for p in group["params"]]
        self.dtype = functools.reduce(torch.promote_types, (p.dtype for p in self.params))
        self.home = next(p for p in self.params if p.dtype == self.dtype)
        self.device = self.home.device
        self.slices: list[slice] = []
        self.decay: list[float] = []  # the coupled λ of each parameter's group
        self.ranges: list[tuple[slice, float]] = []  # each group's slice and lr
        start = 0
        for group in groups:
            group_start = start
            coupled = 0.0 if group["decoupled_weight_decay"] else group["weight_decay"]
            for param in group["params"]:
                self.slices.append(slice(start, start + param.numel()))
                self.decay.append(coupled)
                start += param.numel()
            self.ranges.append((slice(group_start, start), group["lr"]))
        self.numel = start

    def values(self) -> torch.Tensor:
        """θ as one vector."""
        return self.gather(self.params)

    def gather(self, tensors: list[torch.Tensor | None]) -> torch.Tensor:
        """One tensor per parameter as one vector (``None``, a missing gradient, as 0)."""
        return torch.cat(
            [
                torch.zeros(p.numel(), dtype=self.dtype, device=self.device)
                if t is None
                else t.detach().reshape(-1).to(device=self.device, dtype=self.dtype)
                for p, t in zip(self.params, tensors, strict=True)
            ]
        )

    def unflatten(self, v: torch.Tensor) -> list[torch.Tensor]:
        """``v`` cut into one tensor per parameter, on its device and in its dtype (views
        when those agree with the vector's)."""
        return [
            v[part].view(p.shape).to(device=p.device, dtype=p.dtype)
            for p, part in zip(self.params, self.slices, strict=True)
        ]

    def split(self, v: torch.Tensor) -> list[torch.Tensor]:
        """Views of ``v``, one per parameter (for the base's per-tensor clipping)."""
        return [v[part] for part in self.slices]

    def l2(self) -> list[float]:
        """The coupled weight decay λ of each parameter that has a gradient (0 for the
        others: like the base, weight decay only touches parameters with gradients)."""
        return [
            decay if p.grad is not None else 0.0
            for p, decay in zip(self.params, self.decay, strict=True)
        ]

    def objective(self, loss: Any, x: torch.Tensor) -> tuple[float, torch.Tensor]:
        """F(x) = loss + Σ ½λ‖x_p‖² and ∇F(x) = ∇loss + λx_p, with θ = x just evaluated."""
        gradient = self.gather([p.grad for p in self.params])
        value = loss_value(loss)
        for part, decay in zip(self.slices, self.l2(), strict=True):
            if decay:
                gradient[part].add_(x[part], alpha=decay)
                value += 0.5 * decay * float(x[part].dot(x[part]))
        return value, gradient

    def scale_by_lr(self, v: torch.Tensor) -> torch.Tensor:
        """D v: each group's part times its lr (in place)."""
        rates = {lr for _, lr in self.ranges}
        if len(rates) == 1:
            return v.mul_(rates.pop())
        for part, lr in self.ranges:
            v[part].mul_(lr)
        return v

    def free(self, v: torch.Tensor) -> torch.Tensor:
        """``v`` without the parts of groups with ``lr = 0`` (frozen: not part of the
        problem, so their gradient does not keep the iteration going)."""
        frozen = [part for part, lr in self.ranges if lr == 0]
        if not frozen:
            return v
        v = v.clone()
        for part in frozen:
            v[part] = 0
        return v

    def mask_(self, v: torch.Tensor) -> torch.Tensor:
        """Zero the parts of parameters without a gradient (the base leaves those alone)."""
        for p, part in zip(self.params, self.slices, strict=True):
            if p.grad is None:
                v[part].zero_()
        return v


def fixed_step(phi: Callable[[float], tuple[float, float]], step: float) -> LineSearchResult:
    """No line search: take α = ``step`` (evaluating there for the curvature pair)."""
    value, slope = phi(step)
    ok = math.isfinite(value)
    return LineSearchResult(
        step=step,
        value=value,
        slope=slope,
        evaluations=1,
        success=ok,
        message="fixed step taken" if ok else "the loss is not finite after the fixed step",
    )


class QuasiNewton(Optimizer):
    """Base of :class:`~deepdescent.optimizers.second_order.bfgs.BFGS` and
    :class:`~deepdescent.optimizers.second_order.lbfgs.LBFGS`: validation, the iteration of the
    module docstring and the shared-base behaviour around it. A subclass keeps its approximation
    in the state of :attr:`FlatParameters.home` and implements :meth:`_inverse_hessian_times`,
    :meth:`_remember`, :meth:`_forget` and :meth:`_has_curvature`.
    """

    training_needs = TrainingNeeds(closure=True, full_batch=True)

    def __init__(
        self,
        params: Params | None,
        method_defaults: dict[str, Any],
        *,
        lr: LearningRate | None,
        learning_rate: LearningRate | None,
        max_iter: int,
        max_eval: int | None,
        tolerance_grad: float,
        tolerance_change: float,
        line_search_fn: str | None,
        c1: float,
        c2: float,
        max_ls: int,
        curvature_eps: float,
        weight_decay: float,
        decoupled_weight_decay: bool,
        foreach: bool | None,
        fused: bool | None,
        clipping: dict[str, Any],
    ) -> None:
        check_count("max_iter", max_iter)
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        check_count("max_eval", max_eval)
        check_count("max_ls", max_ls)
        for name, value in (
            ("tolerance_grad", tolerance_grad),
            ("tolerance_change", tolerance_change),
        ):
            check_argument(name, value, is_number(value) and value >= 0, "a number >= 0")
        check_argument(
            "line_search_fn",
            line_search_fn,
            line_search_fn in LINE_SEARCHES,
            "'strong_wolfe', 'backtracking' or None (a fixed step of lr)",
        )
        check_argument("c1", c1, is_number(c1) and 0 < c1 < 1, "0 < c1 < 1")
        check_argument("c2", c2, is_number(c2) and c1 < c2 < 1, "c1 < c2 < 1")
        check_argument(
            "curvature_eps",
            curvature_eps,
            is_number(curvature_eps) and 0 <= curvature_eps < 1,
            "0 <= curvature_eps < 1",
        )
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1.0),
            **method_defaults,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "line_search_fn": line_search_fn,
            "c1": c1,
            "c2": c2,
            "max_ls": max_ls,
            "curvature_eps": curvature_eps,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; only ``lr`` and the weight decay may differ from the first group's,
        since all groups take part in one joint iteration."""
        super().add_param_group(param_group)
        first, new = self.param_groups[0], self.param_groups[-1]
        for key, value in new.items():
            if key not in PER_GROUP and value != first[key]:
                self.param_groups.pop()
                raise ValueError(
                    f"Invalid {key}: {value!r} in a parameter group (expected {first[key]!r} "
                    f"as in the first group: {type(self).__name__} optimizes all groups "
                    "jointly, so only lr and weight decay may differ between groups)"
                )

    # -- what a subclass provides ----------------------------------------------------

    def _inverse_hessian_times(self, state: dict[str, Any], v: torch.Tensor) -> torch.Tensor:
        """Hₖ v (a new tensor)."""
        raise NotImplementedError

    def _remember(self, state: dict[str, Any], s: torch.Tensor, y: torch.Tensor, sy: float) -> None:
        """Update Hₖ with an accepted pair (sᵀy = ``sy`` > 0)."""
        raise NotImplementedError

    def _forget(self, state: dict[str, Any]) -> None:
        """Drop the curvature information: Hₖ = I."""
        raise NotImplementedError

    def _has_curvature(self, state: dict[str, Any]) -> bool:
        """Whether Hₖ holds any pair."""
        raise NotImplementedError

    # -- the step --------------------------------------------------------------------

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self, closure: Closure | None = None
    ) -> torch.Tensor | None:
        """Up to ``max_iter`` iterations on the closure's loss; returns its first value."""
        self._require_bound()
        self._apply_schedule()
        flat = FlatParameters(self.param_groups)
        loss = self._evaluate(closure)
        state = self.state[flat.home]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        if state.setdefault("size", flat.numel) != flat.numel:  # a group was added
            self._forget(state)
            state["size"] = flat.numel
        x = flat.values()
        value, gradient = flat.objective(loss, x)
        if not math.isfinite(value):
            raise ValueError(
                f"The closure returned a loss of {value} at the current parameters: "
                f"{type(self).__name__} needs a finite loss to search along"
            )
        # The loss's rounding unit: a decrease it cannot show cannot be searched for.
        dtype = loss.dtype if isinstance(loss, torch.Tensor) else torch.float64
        rounding = torch.finfo(dtype if dtype.is_floating_point else torch.float64).eps
        # _evaluate has refused a missing closure.
        evaluations = self._iterate(
            cast(Closure, closure), flat, state, (x, value, gradient), rounding
        )
        state["func_evals"] += 1 + evaluations
        self._decay_decoupled()
        self._end_step()
        return loss

    def _iterate(
        self,
        closure: Closure,
        flat: FlatParameters,
        state: dict[str, Any],
        start: tuple[torch.Tensor, float, torch.Tensor],
        rounding: float,
    ) -> int:
        """The iterations of one step from ``start`` = (θ, F(θ), ∇F(θ)); returns the
        closure evaluations made. Besides torch's tests it stops when the decrease the
        first trial predicts, −gᵀd α₀, is below F's rounding (ε_mach |F|): there no line
        search can see a decrease, and F is minimized to its precision."""
        options = self.param_groups[0]
        x, value, gradient = start
        evaluations = 0
        for _ in range(options["max_iter"]):
            if float(flat.free(gradient).abs().max()) <= options["tolerance_grad"]:
                break
            direction, slope, initial = self._direction(flat, state, gradient)
            if slope > -options["tolerance_change"] or -slope * initial <= rounding * abs(value):
                break
            line = LineFunction(closure, flat.params, flat.unflatten(direction), flat.l2())
            result = self._line_search(line, value, slope, initial)
            if not result.success:
                evaluations += line.evaluations
                self._forget(state)
                warnings.warn(
                    f"{type(self).__name__}: the line search failed ({result.message}); "
                    "the parameters are left where this iteration started and the "
                    "curvature memory is cleared",
                    RuntimeWarning,
                    stacklevel=5,
                )
                break
            _, gradients = line.move_to(result.step)
            evaluations += line.evaluations
            new_x, new_gradient = flat.values(), flat.gather(list(gradients))
            s, y = new_x - x, new_gradient - gradient
            self._consider(state, s, y)
            state["n_iter"] += 1
            stalled = (
                1 + evaluations >= options["max_eval"]
                or float(s.abs().max()) <= options["tolerance_change"]
                or abs(result.value - value) < options["tolerance_change"]
            )
            x, value, gradient = new_x, result.value, new_gradient
            if stalled:
                break
        return evaluations

    def _direction(
        self, flat: FlatParameters, state: dict[str, Any], gradient: torch.Tensor
    ) -> tuple[torch.Tensor, float, float]:
        """d = −D H ĝ, its slope gᵀd and the first trial step. If d is not a descent
        direction (clipping or unequal group lrs can do that), the memory is dropped and
        d = −D ĝ. Without memory (Hₖ = I) the first trial α = min(1, 1/‖ĝ‖₂) makes the step
        at most of unit length, as L-BFGS-B does (torch.optim uses min(1, 1/‖ĝ‖₁))."""
        clipped = self._clipped(flat, gradient)
        direction = flat.mask_(flat.scale_by_lr(self._inverse_hessian_times(state, clipped).neg_()))
        slope = float(gradient.dot(direction))
        if slope > -self.param_groups[0]["tolerance_change"] and self._has_curvature(state):
            self._forget(state)
            direction = flat.mask_(flat.scale_by_lr(clipped.neg()))
            slope = float(gradient.dot(direction))
        if self._has_curvature(state):
            return direction, slope, 1.0
        return direction, slope, min(1.0, 1.0 / float(clipped.norm()))

    def _clipped(self, flat: FlatParameters, gradient: torch.Tensor) -> torch.Tensor:
        """ĝ: the gradient after the base's clipping (a copy; the line search and the
        pairs keep the true gradient)."""
        if self.clipvalue is None and self.clipnorm is None and self.global_clipnorm is None:
            return gradient
        clipped = gradient.clone()
        self._clip_gradients(flat.split(clipped))
        return clipped

    def _line_search(
        self,
        phi: Callable[[float], tuple[float, float]],
        value: float,
        slope: float,
        initial: float,
    ) -> LineSearchResult:
        options = self.param_groups[0]
        kind = options["line_search_fn"]
        if kind == "strong_wolfe":
            return strong_wolfe(
                phi,
                value,
                slope,
                initial_step=initial,
                c1=options["c1"],
                c2=options["c2"],
                max_evaluations=options["max_ls"],
            )
        if kind == "backtracking":
            return backtracking_armijo(
                phi,
                value,
                slope,
                initial_step=initial,
                c1=options["c1"],
                max_evaluations=options["max_ls"],
            )
        return fixed_step(phi, initial)

    def _consider(self, state: dict[str, Any], s: torch.Tensor, y: torch.Tensor) -> None:
        """Remember (s, y) if sᵀy > ε‖s‖‖y‖, else skip it."""
        sy, bound = torch.stack([s.dot(y), s.norm() * y.norm()]).tolist()
        if sy > self.param_groups[0]["curvature_eps"] * bound:
            self._remember(state, s, y, sy)

    def _decay_decoupled(self) -> None:
        for group in self.param_groups:
            if group["decoupled_weight_decay"] and group["weight_decay"]:
                params, grads = self._params_with_grads(group)
                self._apply_weight_decay(group, params, grads)
