"""A function of two variables to watch optimizers on: its formula, where to look, where
to start, its known minima and saddle points, and learning rates that work on it.

The value is a PyTorch expression, so gradients (and Hessians, for Newton) come from
autograd. :func:`noisy` gives the variant whose gradients carry additive Gaussian noise,
the stochastic gradient ĝ = ∇f(θ) + ξ of SGD (Goodfellow et al., §8.1.3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch

from deepdescent.utils._checks import check_argument, check_non_negative, is_integer, is_number

__all__ = ["LEARNING_RATE_FAMILIES", "Function2D", "Point", "learning_rate_for", "noisy"]

Point = tuple[float, float]
Formula = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Optimizers grouped by what their learning rate means, so that one rate per family and
#: function works for all of them: ``"gradient"`` methods step ε·g (the rate must stay
#: below about 2/L for the function's largest curvature L); ``"adaptive"`` ones step about
#: ε per coordinate whatever the gradient's scale (the rate is a distance on the plot);
#: ``"accumulating"`` ones divide by the root of a sum of squared gradients that never
#: forgets, so their steps shrink like ε/√t and want a larger ε. The others keep their own
#: rate: 1 for the curvature methods (the Newton step) and for Adadelta (which has none
#: in its paper), and LARS's, whose trust ratio sets the scale.
LEARNING_RATE_FAMILIES: dict[str, tuple[str, ...]] = {
    # continuation's rate is its base's, SGD in the catalogue's entry
    "gradient": ("sgd", "momentum", "nesterov", "kfac", "schedule_free_sgd", "continuation"),
    "adaptive": (
        "adabelief",
        "adafactor",
        "adam",
        "adamax",
        "adamw",
        "lamb",
        "lion",
        "muon",
        "nadam",
        "radam",
        "rmsprop",
        "rprop",
        "schedule_free_adamw",
    ),
    "accumulating": ("adagrad", "shampoo"),
}

#: Settings every 2-D function shares: (L-)BFGS take one iteration per ``step`` (their
#: default runs 20), so that each drawn step is one accepted iterate; Hessian-free's
#: inner CG stops after 2 iterations, which solve a 2 × 2 system exactly (Nocedal &
#: Wright, Theorem 5.1), instead of running on in rounding noise.
_TWO_DIMENSIONS: dict[str, dict[str, Any]] = {
    "bfgs": {"max_iter": 1},
    "lbfgs": {"max_iter": 1},
    "hessian_free": {"max_cg_iter": 2},
}


def _family(optimizer: str) -> str | None:
    return next((f for f, names in LEARNING_RATE_FAMILIES.items() if optimizer in names), None)


def learning_rate_for(optimizer: str, learning_rates: Mapping[str, float]) -> float | None:
    """The rate of ``learning_rates`` for ``optimizer``: its own entry, else its family's
    (:data:`LEARNING_RATE_FAMILIES`), else ``None`` (it keeps its own default)."""
    for key in (optimizer, _family(optimizer)):
        if key is not None and key in learning_rates:
            return learning_rates[key]
    return None


@dataclasses.dataclass(frozen=True)
class Function2D:
    """A test function f(x, y) with what it takes to draw and run optimizers on it.

    Attributes:
        name: its identifier (``"rosenbrock"``).
        formula: f(x, y) as a person writes it, for titles.
        value: f on tensors ``x`` and ``y`` of any (equal) shape, element-wise.
        bounds: ``((x_min, x_max), (y_min, y_max))``, the box drawn and the domain a
            start point must lie in.
        start: the default starting point.
        minima: the known (global) minima.
        minimum: f at the minima, or ``None`` when f is unbounded below.
        saddles: the known saddle points.
        learning_rates: a rate that works on this function for each family of
            :data:`LEARNING_RATE_FAMILIES`, and for an optimizer named on its own where
            its family's rate does not suit it (that entry wins).
        gradient_noise: σ of the Gaussian noise added to each gradient (0: exact).
        seed: the seed of the noise's own generator.
    """

    name: str
    formula: str
    value: Formula
    bounds: tuple[Point, Point]
    start: Point
    minima: tuple[Point, ...]
    minimum: float | None
    saddles: tuple[Point, ...] = ()
    learning_rates: Mapping[str, float] = dataclasses.field(default_factory=dict)
    gradient_noise: float = 0.0
    seed: int = 0

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        """f(θ) for θ of shape ``(..., 2)``: the exact value, never noisy."""
        return self.value(theta[..., 0], theta[..., 1])

    def gradient(self, point: Point) -> tuple[float, float]:
        """∇f at ``point`` by autograd (exact, without noise), in float64."""
        theta = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(self(theta), theta)
        return float(grad[0]), float(grad[1])

    def objective(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The loss θ ↦ f(θ) an optimizer minimizes, with its gradient noise.

        With ``gradient_noise`` σ > 0 every call draws ξ ~ N(0, σ²I) from a generator of
        its own, seeded afresh for each objective (so every optimizer of a comparison
        meets the same sequence of draws), and returns f(θ) + ξᵀθ − sg(ξᵀθ), where sg
        stops the gradient: the value is f(θ) exactly, the gradient is ∇f(θ) + ξ.
        """
        if self.gradient_noise == 0:
            return self
        generator = torch.Generator().manual_seed(self.seed)
        scale = self.gradient_noise

        def noisy_value(theta: torch.Tensor) -> torch.Tensor:
            xi = torch.randn(theta.shape, generator=generator, dtype=theta.dtype) * scale
            tilt = (xi.to(theta.device) * theta).sum()
            return self(theta) + tilt - tilt.detach()

        return noisy_value

    def check_start(self, start: Any) -> Point:
        """``start`` (a pair, list or array of two numbers) as a point, or a
        ``ValueError`` naming it unless it is two finite numbers inside :attr:`bounds`."""
        (x_min, x_max), (y_min, y_max) = self.bounds
        domain = f"x in [{x_min}, {x_max}], y in [{y_min}, {y_max}]"
        rule = f"a point (x, y) of {self.name}'s domain, {domain}"
        pair = not isinstance(start, str) and hasattr(start, "__len__") and len(start) == 2
        check_argument("start", start, pair and all(is_number(v) for v in start), rule)
        x, y = float(start[0]), float(start[1])
        check_argument("start", start, x_min <= x <= x_max and y_min <= y <= y_max, rule)
        return x, y

    def settings(self, optimizer: str) -> dict[str, Any]:
        """Hyperparameters with which ``optimizer`` (a catalogue name) works on this
        function: its own or its family's learning rate, and the settings every 2-D
        function shares (one iteration per step for (L-)BFGS, two CG iterations for
        Hessian-free). An optimizer of neither keeps its own defaults (``{}``)."""
        settings = dict(_TWO_DIMENSIONS.get(optimizer, {}))
        rate = learning_rate_for(optimizer, self.learning_rates)
        return settings if rate is None else {**settings, "lr": rate}


def noisy(function: Function2D, std: float = 1.0, seed: int = 0) -> Function2D:
    """``function`` with additive Gaussian gradient noise of standard deviation ``std``
    (see :meth:`Function2D.objective`), named ``noisy_<name>``."""
    check_non_negative("std", std)
    check_argument("seed", seed, is_integer(seed), "an int")
    name = function.name if function.gradient_noise else f"noisy_{function.name}"
    return dataclasses.replace(function, name=name, gradient_noise=float(std), seed=int(seed))
