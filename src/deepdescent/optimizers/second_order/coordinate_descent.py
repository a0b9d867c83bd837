r"""Coordinate descent and block coordinate descent.

Goodfellow, Bengio & Courville, *Deep Learning* (2016), §8.7.2: minimize J(θ) with respect
to one coordinate θᵢ (or one block of them) at a time, the others held fixed,

    θᵢ ← argmin_{θᵢ} J(θ)        for i = 1, 2, …, cyclically or at random,

which helps most when the problem splits into blocks whose sub-problems are easy — as in
the chapter's sparse coding J(H, W) = Σᵢⱼ|Hᵢⱼ| + Σᵢⱼ(X − WᵀH)²ᵢⱼ, convex in H alone and in
W alone though not in both, minimized by alternating between them.

One ``step`` is one sweep: every block once in order (``order="cyclic"``), or as many
blocks drawn uniformly with replacement (``order="random"``, randomized coordinate
descent, Nesterov 2012). The blocks (``blocks``, per parameter group): each scalar
(``"coordinate"``), each parameter tensor (``"tensor"``), the tensors of one layer
(``"layer"``, named parameters — ``fit`` names them), or a whole parameter group
(``"group"``).

Each block's sub-problem is minimized by (``solver``):

* ``"newton"`` — the exact minimizer of the block's second-order model: for a coordinate,
  δ = −gᵢ/Hᵢᵢ from one Hessian-vector product; for a larger block, H_bb δ = −g_b solved by
  conjugate gradient on block Hessian-vector products (Nocedal & Wright, Algorithm 5.2;
  at most as many iterations as H_bb has distinct eigenvalues). On a sub-problem that is
  quadratic — least squares, the dictionary W of sparse coding — this *is* the exact
  minimization, and a separable quadratic is minimized in one sweep of coordinates. With
  an L1 term ``l1`` = λ on a coordinate block the sub-problem min gδ + ½Hᵢᵢδ² + λ|θᵢ + δ|
  is solved exactly by soft thresholding, θᵢ ← S(θᵢ − gᵢ/Hᵢᵢ, λ/Hᵢᵢ) with
  S(u, τ) = sign(u)·max(|u| − τ, 0) — the lasso by coordinate descent (Friedman et al.
  2010), and the codes H of sparse coding. Every step is then safeguarded by Armijo
  backtracking from the full step (Tseng & Yun 2009's rule with the L1 term), which the
  exact step of a quadratic passes at once; where the curvature is not positive the
  block falls back to the line search.
* ``"line_search"`` — a strong-Wolfe line search along the block's negative gradient
  (N&W Algorithms 3.5–3.6, c₂ = 0.1: close to the exact line minimization).

``lr`` scales each block's direction (1: the exact step); a group with ``lr = 0`` is left
alone. Coupled ``weight_decay`` λ₂ adds (λ₂/2)‖θ‖² to the objective each block minimizes.

Warning:
    torch.optim and Keras have no coordinate descent. Each block needs fresh gradients,
    so a sweep costs several closure calls per block (Newton: one per CG iteration or
    coordinate, plus the safeguard's); use it full batch, on small problems or with large
    blocks. The random order is drawn from ``seed`` and the step count, so a resumed run
    visits the same blocks.

References:
    Goodfellow, Bengio & Courville, *Deep Learning*, §8.7.2 (2016). S. J. Wright,
    "Coordinate descent algorithms", Math. Programming 151 (2015). Y. Nesterov,
    "Efficiency of coordinate descent methods on huge-scale optimization problems", SIAM
    J. Optim. 22 (2012). P. Tseng & S. Yun, "A coordinate gradient descent method for
    nonsmooth separable minimization", Math. Programming 117 (2009). J. Friedman, T.
    Hastie & R. Tibshirani, "Regularization paths for generalized linear models via
    coordinate descent", J. Stat. Softw. 33 (2010).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from deepdescent.autodiff import closure_hessian_vector_product, dot
from deepdescent.optimizers.base import (
    LearningRate,
    Optimizer,
    Params,
    loss_value,
    resolve_learning_rate,
    step_generator,
)
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.optimizers.second_order.line_search import (
    LineFunction,
    backtracking_armijo,
    strong_wolfe,
)
from deepdescent.utils._checks import check_argument, check_count, check_non_negative, is_integer
from deepdescent.utils._lookup import lookup

__all__ = ["CoordinateDescent"]

_BLOCKS = {name: name for name in ("coordinate", "tensor", "layer", "group")}
_ORDERS = {name: name for name in ("cyclic", "random")}
_SOLVERS = {name: name for name in ("newton", "line_search")}
_C1, _C2 = 1e-4, 0.1  # Armijo's c₁; the line search's curvature c₂ (near-exact)

Closure = Callable[[], torch.Tensor]


@dataclass(frozen=True)
class _Block:
    """The parameters one sub-problem moves: ``params`` whole, or the scalar ``element``
    of ``params[0]``."""

    group: dict[str, Any]
    params: list[torch.Tensor]
    element: int | None = None


def _soft_threshold(u: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """S(u, τ) = sign(u) · max(|u| − τ, 0), the proximal map of τ|·|."""
    return torch.sign(u) * torch.clamp(u.abs() - tau, min=0.0)


class CoordinateDescent(Optimizer):
    """(Block) coordinate descent (§8.7.2): one sub-problem at a time, exactly where it
    can be, by a line search otherwise.

    Needs a closure (``step(closure)``); ``Model.fit`` gives it the whole training set per
    step when ``batch_size=None``. One ``step`` is one sweep over the blocks.

    Args:
        params: parameters or groups; omit for a Keras-style specification. A group may
            set its own ``lr``, ``blocks``, ``l1`` and ``weight_decay``.
        lr: ε, the fraction of each block's step taken, a number or a schedule (Keras name
            ``learning_rate``). Default 1, the exact minimizer.
        blocks: ``"tensor"`` (default), ``"coordinate"``, ``"layer"`` (parameters named
            ``<layer>.<weight>``) or ``"group"``.
        order: ``"cyclic"`` or ``"random"`` (uniform with replacement).
        solver: ``"newton"`` or ``"line_search"`` (see the module docstring).
        l1: λ ≥ 0 of an L1 term λ‖θ‖₁ added to the objective (coordinate blocks with the
            Newton solver only, where its sub-problem has the closed form above).
        max_cg_iter: the most conjugate-gradient iterations per Newton block.
        cg_tolerance: CG stops when ‖r‖ ≤ tolerance · ‖g‖ (default: 10 ε of the dtype).
        tolerance_grad: a block with max |g_b| ≤ ``tolerance_grad`` is left as it is (first-
            order optimal, torch.optim.LBFGS's test and default).
        seed: the seed of the random order.
        weight_decay: coupled λ₂ (an L2 term); decoupled decay is refused (it would move
            the blocks outside their minimization). ``use_ema`` and its options: see
            :class:`~deepdescent.optimizers.base.Optimizer`.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([3.0, -1.0]))
        >>> opt = deepdescent.optimizers.CoordinateDescent([w], blocks="coordinate")
        >>> def closure():  # separable: one sweep of exact coordinate steps solves it
        ...     opt.zero_grad(); loss = (w[0] - 1) ** 2 + 5 * (w[1] + 2) ** 2
        ...     loss.backward(); return loss
        >>> _ = opt.step(closure); [round(v, 6) for v in w.tolist()]
        [1.0, -2.0]
    """

    training_needs = TrainingNeeds(closure=True, full_batch=True, autograd=True)

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        blocks: str = "tensor",
        order: str = "cyclic",
        solver: str = "newton",
        l1: float = 0.0,
        max_cg_iter: int = 50,
        cg_tolerance: float | None = None,
        tolerance_grad: float = 1e-7,
        seed: int = 0,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        use_ema: bool = False,
        ema_momentum: float | None = 0.99,
        ema_overwrite_frequency: int | None = None,
    ) -> None:
        check_argument(
            "decoupled_weight_decay",
            decoupled_weight_decay,
            decoupled_weight_decay is False,
            "False: coordinate descent minimizes the objective block by block; use "
            "weight_decay, an L2 term of that objective",
        )
        check_count("max_cg_iter", max_cg_iter)
        if cg_tolerance is not None:
            check_non_negative("cg_tolerance", cg_tolerance)
        check_non_negative("tolerance_grad", tolerance_grad)
        check_argument("seed", seed, is_integer(seed) and 0 <= seed < 2**31, "an int in [0, 2³¹)")
        solver = lookup("solver", solver, _SOLVERS)
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1.0),
            "blocks": blocks,
            "order": lookup("order", order, _ORDERS),
            "solver": solver,
            "l1": l1,
            "max_cg_iter": max_cg_iter,
            "cg_tolerance": cg_tolerance,
            "tolerance_grad": tolerance_grad,
            "seed": seed,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": False,
            "foreach": foreach,
            "fused": fused,
        }
        self._check_group(defaults, solver)
        self._fresh_loss: float | None = None
        super().__init__(
            params,
            defaults,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
        )

    @staticmethod
    def _check_group(group: dict[str, Any], solver: str) -> None:
        group["blocks"] = lookup("blocks", group["blocks"], _BLOCKS)
        l1 = check_non_negative("l1", group["l1"])
        check_argument(
            "l1",
            l1,
            l1 == 0 or (group["blocks"] == "coordinate" and solver == "newton"),
            "0 unless blocks='coordinate' and solver='newton', where the sub-problem "
            "min gδ + ½hδ² + λ|θ + δ| has its closed form (soft thresholding)",
        )

    def needs(self) -> TrainingNeeds:
        """Newton blocks differentiate autograd's backward pass (Hessian-vector products);
        the line search needs only losses and gradients."""
        newton = self._spec_defaults["solver"] == "newton"
        return TrainingNeeds(closure=True, full_batch=True, autograd=newton)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; its ``blocks`` and ``l1`` are checked, and ``"layer"`` blocks need
        named parameters."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        self._check_group(group, self.defaults["solver"])
        check_argument(
            "blocks",
            group["blocks"],
            group["blocks"] != "layer" or "param_names" in group,
            "'layer' only with named parameters (model.named_parameters(); fit names them)",
        )

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self, closure: Closure | None = None
    ) -> torch.Tensor | None:
        """One sweep over the blocks; returns the closure's loss at the start."""
        return self._closure_step(closure, self._sweep)

    # -- the sweep -----------------------------------------------------------------------

    def _sweep(
        self, closure: Closure, entries: list[tuple[dict[str, Any], torch.Tensor]], value: float
    ) -> None:
        blocks = list(self._blocks(entries))
        self._fresh_loss = value
        for index in self._visits(len(blocks)):
            block = blocks[index]
            if self.defaults["solver"] == "newton":
                self._newton(closure, block)
            else:
                self._line_search(closure, block)

    def _blocks(self, entries: list[tuple[dict[str, Any], torch.Tensor]]) -> Iterator[_Block]:
        """The blocks of the parameters that have gradients, in group order."""
        for _, run in itertools.groupby(entries, key=lambda entry: id(entry[0])):
            pairs = list(run)
            group, params = pairs[0][0], [p for _, p in pairs]
            if group["lr"] == 0:
                continue
            kind = group["blocks"]
            if kind == "group":
                yield _Block(group, params)
            elif kind == "tensor":
                yield from (_Block(group, [p]) for p in params)
            elif kind == "layer":
                names = dict(zip(map(id, group["params"]), group["param_names"], strict=True))
                layer_of = {id(p): names[id(p)].rpartition(".")[0] for p in params}
                for _, members in itertools.groupby(params, key=lambda p: layer_of[id(p)]):
                    yield _Block(group, list(members))
            else:
                yield from (_Block(group, [p], i) for p in params for i in range(p.numel()))

    def _visits(self, count: int) -> list[int]:
        """The sweep's block indices: in order, or ``count`` uniform draws."""
        if self.defaults["order"] == "cyclic":
            return list(range(count))
        generator = step_generator(self.defaults["seed"], self.iterations)
        return torch.randint(0, count, (count,), generator=generator).tolist()

    # -- what each block needs --------------------------------------------------------

    def _loss_here(self, closure: Closure) -> float:
        """f(θ) at the current point, with ∇f in ``.grad``: re-evaluated only when the
        parameters moved since the last evaluation there."""
        if self._fresh_loss is None:
            with torch.enable_grad():
                self._fresh_loss = loss_value(closure())
        return self._fresh_loss

    def _optimal(self, block: _Block, gradient: list[torch.Tensor]) -> bool:
        """max |g_b| ≤ ``tolerance_grad`` for the block's ``gradient`` (an L1 term's
        subgradient aside: a coordinate held at 0 by it is judged by its sub-problem)."""
        if block.element is not None:
            gradient = [gradient[0].view(-1)[block.element]]
        return max(float(g.abs().max()) for g in gradient) <= self.defaults["tolerance_grad"]

    def _start(self, closure: Closure, block: _Block) -> tuple[float, list[torch.Tensor]] | None:
        """F(θ) = f(θ) + (λ₂/2)‖θ_b‖² and ∇F over the block at the current point, or
        ``None`` when the block is already first-order optimal."""
        value0 = self._loss_here(closure) + _l2(block)
        gradient = self._gradient(block)
        return None if self._optimal(block, gradient) else (value0, gradient)

    @staticmethod
    def _gradient(block: _Block) -> list[torch.Tensor]:
        """∇ of f + (λ₂/2)‖θ_b‖² over the block (a copy: the closure overwrites .grad)."""
        decay = block.group["weight_decay"]
        grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in block.params]
        if decay:
            torch._foreach_add_(grads, block.params, alpha=decay)
        return grads

    @staticmethod
    def _direction_tensors(block: _Block, values: torch.Tensor) -> list[torch.Tensor]:
        """A direction moving only the block's coordinate ``element`` by ``values``."""
        direction = torch.zeros_like(block.params[0])
        direction.view(-1)[block.element] = values
        return [direction]

    def _accept(
        self,
        closure: Closure,
        block: _Block,
        direction: list[torch.Tensor],
        value0: float,
        decrease0: float,
        l1: float = 0.0,
    ) -> None:
        """Armijo backtracking from the full step along ``direction``: the first of
        α = 1, ½, ¼, … with F(θ + αd) ≤ F(θ) + c₁αΔ, F = f + (λ₂/2)‖θ_b‖² + λ‖θ_b‖₁ and Δ
        the predicted decrease's slope (gᵀd, plus λ(|θ + d| − |θ|) with an L1 term)."""
        line = LineFunction(
            closure, block.params, direction, [block.group["weight_decay"]] * len(block.params)
        )
        start = block.params[0].view(-1)[block.element].clone() if l1 else None

        def penalized(alpha: float) -> tuple[float, float]:
            value, slope = line(alpha)
            if start is not None:
                value += l1 * float((start + alpha * direction[0].view(-1)[block.element]).abs())
            return value, slope

        result = backtracking_armijo(penalized, value0, decrease0, c1=_C1)
        self._move(line, result.step if result.success else 0.0)

    def _move(self, line: LineFunction, step: float) -> None:
        """Leave the parameters at the accepted step (or where they were), and record
        whether ``.grad`` still holds the gradient there."""
        if step == 0:
            line.restore()
            self._fresh_loss = None
            return
        loss, _ = line.move_to(step)
        self._fresh_loss = loss_value(loss)

    # -- the Newton solver --------------------------------------------------------------

    def _newton(self, closure: Closure, block: _Block) -> None:
        if block.element is not None:
            self._newton_coordinate(closure, block)
        else:
            self._newton_block(closure, block)

    def _newton_coordinate(self, closure: Closure, block: _Block) -> None:
        """δ = −gᵢ/Hᵢᵢ, or soft thresholding with an L1 term: one Hessian-vector product."""
        group, (param,), element = block.group, block.params, block.element
        fresh = self._fresh_loss is not None and not group["l1"]
        if fresh and self._optimal(block, self._gradient(block)):
            return
        unit = self._direction_tensors(block, torch.ones((), dtype=param.dtype))
        with torch.enable_grad():
            loss, (product,) = closure_hessian_vector_product(closure, [param], unit)
        self._fresh_loss = loss_value(loss)
        (gradient,) = self._gradient(block)
        g = gradient.view(-1)[element]
        h = product.view(-1)[element] + group["weight_decay"]
        if not float(h) > 0:
            self._line_search(closure, block)
            return
        theta, l1 = param.detach().view(-1)[element], float(group["l1"])
        target = _soft_threshold(theta - g / h, l1 / h) if l1 else theta - g / h
        step = group["lr"] * (target - theta)
        decrease = float(g * step)
        value0 = self._fresh_loss + _l2(block)
        if l1:
            decrease += l1 * float((theta + step).abs() - theta.abs())
            value0 += l1 * float(theta.abs())
        if decrease < 0:  # else θᵢ already minimizes its sub-problem
            self._accept(closure, block, self._direction_tensors(block, step), value0, decrease, l1)

    def _newton_block(self, closure: Closure, block: _Block) -> None:
        """H_bb δ = −g_b by conjugate gradient on block Hessian-vector products."""
        group, start = block.group, self._start(closure, block)
        if start is None:
            return
        value0, gradient = start
        solution = self._conjugate_gradient(closure, block, gradient)
        if solution is None:  # no positive curvature along −g: a line search instead
            self._line_search(closure, block)
            return
        direction = [d.mul_(group["lr"]) for d in solution]
        decrease = float(dot(gradient, direction))
        if decrease >= 0:
            return
        self._accept(closure, block, direction, value0, decrease)

    def _conjugate_gradient(
        self, closure: Closure, block: _Block, gradient: list[torch.Tensor]
    ) -> list[torch.Tensor] | None:
        """Nocedal & Wright, Algorithm 5.2 from δ = 0 on (H_bb + λ₂I)δ = −g_b, stopped at
        ``max_cg_iter``, at ‖r‖ ≤ tolerance·‖g‖, or before a direction of non-positive
        curvature (``None`` when the very first one is)."""
        decay = block.group["weight_decay"]
        tolerance = self.defaults["cg_tolerance"]
        if tolerance is None:
            tolerance = 10 * torch.finfo(block.params[0].dtype).eps
        solution = [torch.zeros_like(g) for g in gradient]
        residual = [-g for g in gradient]
        direction = [r.clone() for r in residual]
        squared = float(dot(residual, residual))
        limit = tolerance**2 * squared
        for iteration in range(self.defaults["max_cg_iter"]):
            if squared <= limit or squared == 0:
                break
            with torch.enable_grad():
                _, products = closure_hessian_vector_product(closure, block.params, direction)
            if decay:
                torch._foreach_add_(products, direction, alpha=decay)
            curvature = float(dot(direction, products))
            if not curvature > 0:
                return None if iteration == 0 else solution
            alpha = squared / curvature
            torch._foreach_add_(solution, direction, alpha=alpha)
            torch._foreach_add_(residual, products, alpha=-alpha)
            previous, squared = squared, float(dot(residual, residual))
            torch._foreach_mul_(direction, squared / previous)
            torch._foreach_add_(direction, residual)
        return solution

    # -- the line-search solver -----------------------------------------------------------

    def _line_search(self, closure: Closure, block: _Block) -> None:
        """A strong-Wolfe step along the block's −ε g_b."""
        group, start = block.group, self._start(closure, block)
        if start is None:
            return
        value0, gradient = start
        if block.element is not None:
            g = gradient[0].view(-1)[block.element]
            gradient = self._direction_tensors(block, g)
        direction = [g.mul(-group["lr"]) for g in gradient]
        slope = float(dot(gradient, direction))
        if slope >= 0:
            return
        line = LineFunction(
            closure, block.params, direction, [group["weight_decay"]] * len(block.params)
        )
        result = strong_wolfe(line, value0, slope, c1=_C1, c2=_C2)
        self._move(line, result.step if result.success else 0.0)


def _l2(block: _Block) -> float:
    """(λ₂/2)‖θ_b‖², the block's share of the L2 term."""
    decay = block.group["weight_decay"]
    if not decay:
        return 0.0
    return 0.5 * decay * sum(float(torch.sum(p.detach() ** 2)) for p in block.params)
