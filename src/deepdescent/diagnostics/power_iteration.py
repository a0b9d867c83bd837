r"""Power iteration for the algebraically largest or smallest eigenpairs of a symmetric
operator known only through its products ``v ↦ A v``.

Plain power iteration ``v ← A v / ‖A v‖`` converges to the eigenvalue largest in
*magnitude* (Golub & Van Loan, *Matrix Computations*, 4th ed., §7.3.1) — the most
negative one when it outweighs the top, and neither when λ_max = −λ_min (a saddle such as
x² − y²). So a first pass only estimates the spectral radius ρ = max|λ| from ‖A v‖ (which
converges even then, A² having the single dominant eigenvalue ρ²), and the iteration runs
on the shifted operator

    B = A + ρ I   (largest)        B = A − ρ I   (smallest),

whose spectrum [λ_min + ρ, λ_max + ρ] ⊂ [0, 2ρ] (resp. [−2ρ, 0]) has the wanted end
dominant in magnitude. Each iterate is v ← B v / ‖B v‖, the eigenvalue estimate is the
Rayleigh quotient θ = vᵀ A v, and the iteration stops on the residual

    ‖A v − θ v‖ ≤ tol · ρ,

not on the relative change of θ, which stalls early when two eigenvalues are close
(convergence factor (λ₂ + ρ)/(λ₁ + ρ) per step). Further eigenpairs come by deflation:
every iterate is kept orthogonal to the eigenvectors already found (Hotelling deflation
for a symmetric A). PyHessian (Yao et al. 2020) runs the plain, unshifted form with a
relative-change test; Lanczos (:mod:`~deepdescent.diagnostics.lanczos`) needs far fewer
products for the same accuracy and is the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["PowerEigenpairs", "power_iteration", "spectral_radius"]

MatVec = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PowerEigenpairs:
    """Eigenpairs from power iteration (see :class:`~.lanczos.LanczosEigenpairs`).

    Attributes:
        values: ``(k,)`` Rayleigh quotients, in the order found (descending for
            ``"largest"``, ascending for ``"smallest"``).
        vectors: ``(k, n)`` unit vectors.
        residuals: ``(k,)`` ``‖A v − θ v‖`` at the last iterate of each.
        steps: products taken, the spectral-radius pass included.
        converged: whether every residual met the tolerance.
        radius: the spectral radius estimate ρ used as the shift.
    """

    values: torch.Tensor
    vectors: torch.Tensor
    residuals: torch.Tensor
    steps: int
    converged: bool
    radius: float


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / torch.linalg.vector_norm(v)


def spectral_radius(
    matvec: MatVec, start: torch.Tensor, rtol: float = 1e-3, max_steps: int = 100
) -> tuple[float, int]:
    """ρ̂ = ‖A v‖ for the power iterate v, stopped when it changes by less than ``rtol``
    (a shift needs ρ only roughly); returns ρ̂ (the largest seen: a lower bound of ρ)
    and the products taken."""
    v, radius = _unit(start), 0.0
    for step in range(1, max_steps + 1):
        w = matvec(v)
        norm = float(torch.linalg.vector_norm(w))
        if norm == 0.0:
            return radius, step
        previous, radius = radius, max(radius, norm)
        if step > 1 and radius - previous <= rtol * radius:
            return radius, step
        v = w / norm
    return radius, max_steps


def _orthogonalize(v: torch.Tensor, found: list[torch.Tensor]) -> torch.Tensor:
    for u in found:
        v = v - (u @ v) * u
    return v


def power_iteration(
    matvec: MatVec,
    starts: torch.Tensor,
    k: int,
    which: str,
    tol: float,
    max_steps: int,
) -> PowerEigenpairs:
    """The k algebraically largest or smallest eigenpairs of ``matvec``.

    Args:
        matvec: ``v ↦ A v`` for a symmetric A, on flat vectors.
        starts: ``(k + 1, n)`` random start vectors: the first for the spectral-radius
            pass, one for each eigenpair.
        k: how many eigenpairs.
        which: ``"largest"`` or ``"smallest"`` (algebraically).
        tol: the residual tolerance relative to ρ.
        max_steps: products allowed for each eigenpair.
    """
    radius, total = spectral_radius(matvec, starts[0])
    shift = radius if which == "largest" else -radius
    values: list[float] = []
    vectors: list[torch.Tensor] = []
    residuals: list[float] = []
    converged = True
    for index in range(k):
        v = _unit(_orthogonalize(starts[index + 1], vectors))
        theta, residual = 0.0, float("inf")
        for _ in range(max_steps):
            w = matvec(v)
            total += 1
            theta = float(v @ w)
            residual = float(torch.linalg.vector_norm(w - theta * v))
            if residual <= tol * max(radius, 1e-300):
                break
            v = _unit(_orthogonalize(w + shift * v, vectors))
        converged = converged and residual <= tol * max(radius, 1e-300)
        values.append(theta)
        vectors.append(v)
        residuals.append(residual)
    return PowerEigenpairs(
        torch.tensor(values, dtype=torch.float64),
        torch.stack(vectors),
        torch.tensor(residuals, dtype=torch.float64),
        total,
        converged,
        radius,
    )
