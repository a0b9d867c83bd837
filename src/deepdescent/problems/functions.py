r"""The 2-D test functions of the optimizer movies, by name.

Each is a :class:`~deepdescent.problems.function2d.Function2D`; the docstring of its
formula gives f, its critical points and the reference. Jamil & Yang survey them all:
M. Jamil & X.-S. Yang, "A literature survey of benchmark functions for global optimization
problems", Int. J. Mathematical Modelling and Numerical Optimisation 4(2), 150–194 (2013).
"""

from __future__ import annotations

import math

import torch

from deepdescent.problems.function2d import Function2D
from deepdescent.utils._lookup import lookup

__all__ = [
    "FUNCTIONS",
    "beale",
    "booth",
    "get_function",
    "himmelblau",
    "ill_conditioned_quadratic",
    "monkey_saddle",
    "rastrigin",
    "rosenbrock",
    "saddle",
]

#: The quadratic's condition number κ and the angle of its long axis.
CONDITION_NUMBER = 20.0
VALLEY_ANGLE = math.pi / 6


def ill_conditioned_quadratic(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""The long narrow valley: f(x, y) = ½ (u² + κ v²), κ = 20, where
    u = x cos φ + y sin φ and v = −x sin φ + y cos φ with φ = 30°.

    The Hessian has eigenvalues 1 and κ along axes turned by φ, so gradient descent,
    whose rate must stay below 2/κ, zigzags across the valley and crawls along it; the
    turn keeps the valley off the coordinate axes, where per-coordinate methods would
    have it easy. Minimum f(0, 0) = 0.

    Reference: Goodfellow, Bengio & Courville, *Deep Learning* (2016), §4.3.1 (Fig. 4.6)
    and §8.3.2 (Fig. 8.5, momentum).
    """
    u = x * math.cos(VALLEY_ANGLE) + y * math.sin(VALLEY_ANGLE)
    v = -x * math.sin(VALLEY_ANGLE) + y * math.cos(VALLEY_ANGLE)
    return 0.5 * (u**2 + CONDITION_NUMBER * v**2)


def rosenbrock(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Rosenbrock's banana: f(x, y) = (1 − x)² + 100 (y − x²)².

    A curved valley with a flat floor: easy to fall into, slow to follow. Minimum
    f(1, 1) = 0.

    Reference: H. H. Rosenbrock, "An automatic method for finding the greatest or least
    value of a function", The Computer Journal 3(3), 175–184 (1960).
    """
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def beale(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Beale's function:
    f(x, y) = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)².

    Flat plateaus next to walls that rise to 10⁵ at the corners of [−4.5, 4.5]². Minimum
    f(3, 0.5) = 0.

    Reference: E. M. L. Beale, "On an iterative method for finding a local minimum of a
    function of more than one variable", Technical Report 25, Statistical Techniques
    Research Group, Princeton University (1958).
    """
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def booth(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Booth's function: f(x, y) = (x + 2y − 7)² + (2x + y − 5)².

    A quadratic whose Hessian [[10, 8], [8, 10]] has eigenvalues 18 and 2 (κ = 9).
    Minimum f(1, 3) = 0.

    Reference: Jamil & Yang (2013), function 24.
    """
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def himmelblau(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Himmelblau's function: f(x, y) = (x² + y − 11)² + (x + y² − 7)².

    Four minima, all with f = 0: (3, 2), (−2.805118, 3.131313), (−3.779310, −3.283186)
    and (3.584428, −1.848127); a local maximum near (−0.27, −0.92) and four saddles
    between them. Which minimum an optimizer reaches depends on its path.

    Reference: D. M. Himmelblau, *Applied Nonlinear Programming*, McGraw-Hill (1972).
    """
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def saddle(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""The saddle f(x, y) = x² − y².

    A critical point at (0, 0) that is a minimum along x and a maximum along y; f is
    unbounded below. Started near the x axis, gradient descent slows down at the saddle
    before it leaves along y.

    Reference: Goodfellow, Bengio & Courville, *Deep Learning* (2016), §4.3.1 (Fig. 4.5)
    and §8.2.3.
    """
    return x**2 - y**2


def monkey_saddle(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""The monkey saddle f(x, y) = x³ − 3xy² = Re (x + iy)³.

    A degenerate critical point at (0, 0): the gradient and the Hessian both vanish
    there, so second-order information does not show the way down, and three valleys
    (at 60°, 180° and 300°) leave it. f is unbounded below.

    References: D. Hilbert & S. Cohn-Vossen, *Geometry and the Imagination* (1932), §I.4;
    A. Anandkumar & R. Ge, "Efficient approaches for escaping higher order saddle points
    in non-convex optimization", COLT 2016.
    """
    return x**3 - 3 * x * y**2


def rastrigin(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Rastrigin's function: f(x, y) = 20 + Σ (xᵢ² − 10 cos 2πxᵢ) over xᵢ ∈ {x, y}.

    A bowl covered in a regular grid of local minima near the integer points. Minimum
    f(0, 0) = 0.

    References: L. A. Rastrigin, *Systems of Extremal Control* (1974); H. Mühlenbein,
    M. Schomisch & J. Born, "The parallel genetic algorithm as function optimizer",
    Parallel Computing 17, 619–632 (1991).
    """
    return 20 + x**2 - 10 * torch.cos(2 * math.pi * x) + y**2 - 10 * torch.cos(2 * math.pi * y)


FUNCTIONS: dict[str, Function2D] = {
    f.name: f
    for f in (
        Function2D(
            name="quadratic",
            formula="½(u² + 20v²), the valley turned by 30°",
            value=ill_conditioned_quadratic,
            bounds=((-3.0, 3.0), (-3.0, 3.0)),
            start=(-2.5, -0.8),
            minima=((0.0, 0.0),),
            minimum=0.0,
            learning_rates={"gradient": 0.05, "adaptive": 0.1, "accumulating": 1.0},
        ),
        Function2D(
            name="rosenbrock",
            formula="(1 − x)² + 100(y − x²)²",
            value=rosenbrock,
            bounds=((-2.0, 2.0), (-1.0, 3.0)),
            start=(-1.5, 2.0),
            minima=((1.0, 1.0),),
            minimum=0.0,
            learning_rates={
                "gradient": 1e-3,
                "adaptive": 0.1,
                "accumulating": 1.0,
                "radam": 1e-3,
                "lion": 0.02,
            },
        ),
        Function2D(
            name="beale",
            formula="(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
            value=beale,
            bounds=((-4.5, 4.5), (-4.5, 4.5)),
            start=(1.0, 1.5),
            minima=((3.0, 0.5),),
            minimum=0.0,
            learning_rates={"gradient": 3e-3, "adaptive": 0.1, "accumulating": 1.0, "radam": 0.01},
        ),
        Function2D(
            name="booth",
            formula="(x + 2y − 7)² + (2x + y − 5)²",
            value=booth,
            bounds=((-10.0, 10.0), (-10.0, 10.0)),
            start=(-8.0, 7.0),
            minima=((1.0, 3.0),),
            minimum=0.0,
            learning_rates={"gradient": 0.05, "adaptive": 0.2, "accumulating": 1.0},
        ),
        Function2D(
            name="himmelblau",
            formula="(x² + y − 11)² + (x + y² − 7)²",
            value=himmelblau,
            bounds=((-5.0, 5.0), (-5.0, 5.0)),
            start=(-0.5, 0.0),
            minima=(
                (3.0, 2.0),
                (-2.805118086952745, 3.131312518250573),
                (-3.779310253377747, -3.2831859912861696),
                (3.5844283403304917, -1.8481265269644036),
            ),
            minimum=0.0,
            learning_rates={"gradient": 0.01, "adaptive": 0.05, "accumulating": 1.0},
        ),
        Function2D(
            name="saddle",
            formula="x² − y²",
            value=saddle,
            bounds=((-2.0, 2.0), (-2.0, 2.0)),
            start=(-1.8, 0.01),
            minima=(),
            minimum=None,
            saddles=((0.0, 0.0),),
            learning_rates={"gradient": 0.05, "adaptive": 0.05, "accumulating": 0.5},
        ),
        Function2D(
            name="monkey_saddle",
            formula="x³ − 3xy²",
            value=monkey_saddle,
            bounds=((-1.5, 1.5), (-1.5, 1.5)),
            start=(0.9, 0.05),
            minima=(),
            minimum=None,
            saddles=((0.0, 0.0),),
            learning_rates={"gradient": 0.05, "adaptive": 0.05, "accumulating": 0.5},
        ),
        Function2D(
            name="rastrigin",
            formula="20 + x² − 10cos 2πx + y² − 10cos 2πy",
            value=rastrigin,
            bounds=((-5.12, 5.12), (-5.12, 5.12)),
            start=(-3.2, 2.3),
            minima=((0.0, 0.0),),
            minimum=0.0,
            learning_rates={"gradient": 2e-3, "adaptive": 0.1, "accumulating": 1.0},
        ),
    )
}


def get_function(name: str) -> Function2D:
    """The test function called ``name``, or a ``ValueError`` listing the valid names."""
    return lookup("function", name, FUNCTIONS)
