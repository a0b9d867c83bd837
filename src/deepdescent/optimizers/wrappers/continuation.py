r"""Gaussian continuation around any optimizer: minimize a sequence of smoothed objectives.

Goodfellow, Bengio & Courville, *Deep Learning* (2016), §8.7.6: a continuation method
optimizes a series of objectives J⁽⁰⁾, J⁽¹⁾, … that become harder, each started from the
solution of the one before, the last being J itself. Blurring J by a Gaussian (Mobahi &
Fisher 2015),

    J⁽ⁱ⁾(θ) = E_{θ′ ∼ N(θ, σᵢ² I)} J(θ′),    σ₀ > σ₁ > … > 0,

removes the small-scale structure first — its local minima — so that the early stages
find the basin of a good minimum and the later ones refine it.

Its gradient is estimated by sampling, ∇J⁽ⁱ⁾(θ) = E[∇J(θ + σᵢε)] ≈ (1/K) Σₖ ∇J(θ + σᵢεₖ)
with εₖ ~ N(0, I); with ``antithetic=True`` the draws come in pairs ±εₖ, which makes the
estimate exact for a quadratic J (whose blur only adds a constant) and removes every odd
term of the error elsewhere. One set of draws serves a whole step (common random
numbers), so a base optimizer that re-evaluates the loss (a line search, L-BFGS) sees
one smooth function during its step. σ follows ``sigmas``, one stage of
``steps_per_stage`` updates each; at σ = 0 the base optimizer runs alone on J.

The step returns the loss at θ (its first evaluation, which ``fit`` records); each step
evaluates the closure 1 + K times while σ > 0.

Warning:
    Not in torch.optim or Keras. The draws come from a generator seeded by (``seed``, step
    number), so runs repeat and a resumed run continues identically. Layers with batch
    statistics (``BatchNormalization``) update their moving averages at each of the
    K + 1 forward passes.

References:
    Goodfellow, Bengio & Courville, *Deep Learning*, §8.7.6 (2016). H. Mobahi & J. W.
    Fisher III, "On the link between Gaussian homotopy continuation and convex
    envelopes", EMMCVPR 2015. E. L. Allgower & K. Georg, *Numerical Continuation
    Methods* (1980).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch

from deepdescent.optimizers.base import needs_of, step_generator
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.optimizers.wrappers.base import OptimizerWrapper
from deepdescent.utils._checks import check_argument, check_count, is_integer, is_number

__all__ = ["Continuation"]


class Continuation(OptimizerWrapper):
    """Gaussian continuation (§8.7.6) around a base optimizer.

    Args:
        base_optimizer: the optimizer of each smoothed objective: any
            ``torch.optim.Optimizer`` (bound), an unbound deepdescent optimizer
            (``compile`` binds it), or a name/config. One that takes a closure (L-BFGS,
            a line search) is given the smoothed objective's.
        sigmas: σ₀ ≥ σ₁ ≥ … ≥ 0, the blur of each stage (a last 0 ends on J itself).
        steps_per_stage: the updates of each stage but the last, which lasts as long as
            training does.
        samples: K, the draws per step (even with ``antithetic``).
        antithetic: draw ±ε in pairs.
        seed: the seed of the draws.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([2.9]))
        >>> opt = deepdescent.optimizers.Continuation(
        ...     torch.optim.SGD([w], lr=0.002), sigmas=(0.6, 0.0), steps_per_stage=1500)
        >>> def closure():  # 1-D Rastrigin: local minima near every integer, global at 0
        ...     opt.zero_grad(); loss = (w ** 2 - 10 * torch.cos(2 * torch.pi * w)).sum()
        ...     loss.backward(); return loss
        >>> for _ in range(2000):
        ...     _ = opt.step(closure)
        >>> abs(w.item()) < 1e-3  # plain gradient descent from 2.9 stops at 2.98
        True
    """

    def __init__(
        self,
        base_optimizer: torch.optim.Optimizer | str | dict[str, Any],
        sigmas: Sequence[float] = (1.0, 0.5, 0.25, 0.1, 0.0),
        steps_per_stage: int = 100,
        samples: int = 8,
        antithetic: bool = True,
        seed: int = 0,
    ) -> None:
        values = list(sigmas) if not isinstance(sigmas, (str, bytes)) else []
        check_argument(
            "sigmas",
            sigmas,
            bool(values)
            and all(is_number(s) and s >= 0 for s in values)
            and all(a >= b for a, b in itertools.pairwise(values)),
            "a non-empty, non-increasing sequence of numbers >= 0",
        )
        check_count("steps_per_stage", steps_per_stage)
        check_count("samples", samples)
        check_argument("antithetic", antithetic, isinstance(antithetic, bool), "True or False")
        check_argument(
            "samples",
            samples,
            not antithetic or samples % 2 == 0,
            "an even number: antithetic draws come in pairs ±ε",
        )
        check_argument("seed", seed, is_integer(seed) and seed >= 0, "an int >= 0")
        self.sigmas = [float(s) for s in values]
        self.steps_per_stage, self.samples = steps_per_stage, samples
        self.antithetic, self.seed = antithetic, seed
        super().__init__(base_optimizer)

    def needs(self) -> TrainingNeeds:
        """The base optimizer's, and a closure: the smoothed gradient re-evaluates J."""
        return dataclasses.replace(super().needs(), closure=True)

    def _options(self) -> dict[str, Any]:
        return {
            "sigmas": list(self.sigmas),
            "steps_per_stage": self.steps_per_stage,
            "samples": self.samples,
            "antithetic": self.antithetic,
            "seed": self.seed,
        }

    @property
    def sigma(self) -> float:
        """σ of the current stage (that of the next update)."""
        stage = min(self.iterations // self.steps_per_stage, len(self.sigmas) - 1)
        return self.sigmas[stage]

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self, closure: Callable[[], torch.Tensor] | None = None
    ) -> torch.Tensor | None:
        """One update of the base optimizer on J⁽ⁱ⁾; returns the loss at θ."""
        self._check_bound()
        loss = self._evaluate(closure)
        assert closure is not None  # _evaluate refuses None: needs() asks for a closure
        sigma = self.sigma
        params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        if sigma == 0 or not params:
            self._step_base(closure)
        else:
            self._step_base(self._smoothed(closure, params, self._draws(params, sigma)))
        self.iterations += 1
        return loss

    def _step_base(self, closure: Callable[[], torch.Tensor]) -> None:
        if needs_of(self.base_optimizer).closure:
            cast(Any, self.base_optimizer).step(closure)
            return
        with torch.enable_grad():
            closure()
        self.base_optimizer.step()

    def _draws(self, params: list[torch.Tensor], sigma: float) -> list[list[torch.Tensor]]:
        """σεₖ for k = 1 … K, one tensor per parameter; ±pairs when antithetic."""
        generator = step_generator(self.seed, self.iterations)
        count = self.samples // 2 if self.antithetic else self.samples
        draws = []
        for _ in range(count):
            noise = [
                sigma * torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
                for p in params
            ]
            draws.append(noise)
            if self.antithetic:
                draws.append([-n for n in noise])
        return draws

    @staticmethod
    def _smoothed(
        closure: Callable[[], torch.Tensor],
        params: list[torch.Tensor],
        draws: list[list[torch.Tensor]],
    ) -> Callable[[], torch.Tensor]:
        """The closure of the sampled J⁽ⁱ⁾ around the parameters' values at each call:
        (1/K) Σₖ J(θ + σεₖ), with the mean gradient left in ``.grad``."""

        def smoothed() -> torch.Tensor:
            origin = [p.detach().clone() for p in params]
            total = torch.zeros((), dtype=params[0].dtype, device=params[0].device)
            grads = [torch.zeros_like(p) for p in params]
            for noise in draws:
                with torch.no_grad():
                    torch._foreach_add_(params, noise)
                with torch.enable_grad():
                    total += closure().detach()
                torch._foreach_add_(
                    grads, [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
                )
                with torch.no_grad():
                    torch._foreach_copy_(params, origin)
            torch._foreach_div_(grads, float(len(draws)))
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad
            return total / len(draws)

        return smoothed
