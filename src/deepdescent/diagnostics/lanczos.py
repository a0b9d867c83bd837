r"""The Lanczos process with full reorthogonalization, for a symmetric operator known only
through its products ``v ↦ A v`` (a Hessian here).

For a symmetric n × n matrix A and a unit vector q₁ (Golub & Van Loan, *Matrix
Computations*, 4th ed., Algorithm 10.1.1), step j computes

    w  = A q_j − β_{j−1} q_{j−1},     α_j = q_jᵀ w,     w ← w − α_j q_j,
    w ← w − Q_j (Q_jᵀ w)   (twice: full reorthogonalization, classical Gram–Schmidt),
    β_j = ‖w‖,     q_{j+1} = w / β_j,

building an orthonormal basis Q_m = [q₁ … q_m] of the Krylov space span{q₁, A q₁, …,
A^{m−1} q₁} and the tridiagonal T_m = Q_mᵀ A Q_m (diagonal α, off-diagonal β). The
eigenpairs (θ_i, s_i) of T_m give the Ritz pairs (θ_i, y_i = Q_m s_i) with the residual

    ‖A y_i − θ_i y_i‖ = β_m |s_{m,i}|       (the last entry of s_i),

so convergence is tested on the residual, never on the change of θ between steps (which
can stall while θ is still far from an eigenvalue when the two largest are close).
Rounding destroys the orthogonality of the q_j in the plain three-term recurrence, which
then returns spurious copies of converged eigenvalues; reorthogonalizing against the whole
basis at every step keeps Q_m orthonormal to working precision. If β_j vanishes, the basis
spans an invariant subspace: extraction continues from a fresh random vector orthogonal
to it (T_m becomes block diagonal), which also makes m = n steps reproduce the spectrum
exactly.

The same tridiagonal T_m is a Gauss quadrature rule for the spectral measure of A seen
from q₁ (Golub & Meurant, *Matrices, Moments and Quadrature*, 2010): with T_m = S Θ Sᵀ,

    q₁ᵀ f(A) q₁ ≈ Σ_i τ_i f(θ_i),     τ_i = s_{1,i}²,

exact for polynomials f of degree ≤ 2m − 1 — the basis of stochastic Lanczos quadrature.

Limitation: a single-vector Krylov method sees one copy of a repeated eigenvalue; the
second copy of an exactly double eigenvalue surfaces only through rounding (block Lanczos
would be needed to count multiplicities reliably).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["LanczosEigenpairs", "lanczos_eigenpairs", "lanczos_tridiagonal", "ritz_quadrature"]

MatVec = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class LanczosEigenpairs:
    """Ritz values and vectors of the wanted end of the spectrum.

    Attributes:
        values: ``(k,)`` Ritz values, descending for ``"largest"``, ascending for ``"smallest"``.
        vectors: ``(k, n)`` unit Ritz vectors, one per row.
        residual_estimates: ``(k,)`` ``β_m |s_{m,i}|`` at the last step.
        steps: Lanczos steps taken (one product each).
        converged: whether every residual estimate met the tolerance.
    """

    values: torch.Tensor
    vectors: torch.Tensor
    residual_estimates: torch.Tensor
    steps: int
    converged: bool


class _Process:
    """The Lanczos recurrence with a preallocated basis."""

    def __init__(self, matvec: MatVec, start: torch.Tensor, max_steps: int) -> None:
        self.matvec = matvec
        self.n = start.numel()
        self.basis = start.new_zeros(max_steps + 1, self.n)
        self.basis[0] = start / torch.linalg.vector_norm(start)
        self.alphas: list[float] = []
        self.betas: list[float] = []
        self.scale = 0.0

    @property
    def steps(self) -> int:
        return len(self.alphas)

    def _orthogonalize(self, w: torch.Tensor, count: int) -> torch.Tensor:
        basis = self.basis[:count]
        for _ in range(2):  # "twice is enough" (Kahan, Parlett)
            w = w - basis.T @ (basis @ w)
        return w

    def step(self) -> float:
        """One step; returns β_j (0 at a breakdown)."""
        j = self.steps
        q = self.basis[j]
        w = self.matvec(q)
        if j > 0:
            w = w - self.betas[-1] * self.basis[j - 1]
        alpha = float(q @ w)
        w = self._orthogonalize(w - alpha * q, j + 1)
        beta = float(torch.linalg.vector_norm(w))
        self.alphas.append(alpha)
        self.scale = max(self.scale, abs(alpha), beta)
        # Relative to the operator's scale, a β this small means the Krylov space is invariant.
        if beta <= 64 * torch.finfo(w.dtype).eps * max(self.scale, 1e-300):
            beta = 0.0
        elif j + 1 < len(self.basis):
            self.basis[j + 1] = w / beta
        self.betas.append(beta)
        return beta

    def restart(self, generator: torch.Generator) -> bool:
        """After a breakdown: a random unit vector orthogonal to the basis as the next q
        (β stays 0, so T is block diagonal); ``False`` when the basis already spans R^n."""
        j = self.steps
        if j >= min(self.n, len(self.basis)):
            return False
        fresh = torch.randn(self.n, generator=generator, dtype=torch.float64)
        fresh = self._orthogonalize(fresh.to(self.basis), j)
        norm = float(torch.linalg.vector_norm(fresh))
        if norm < 1e-3:
            return False
        self.basis[j] = fresh / norm
        return True

    def tridiagonal(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(α, β)`` in float64 on the CPU; β holds the m − 1 couplings of T_m."""
        alphas = torch.tensor(self.alphas, dtype=torch.float64)
        betas = torch.tensor(self.betas[: self.steps - 1], dtype=torch.float64)
        return alphas, betas


def _eigh_tridiagonal(
    alphas: torch.Tensor, betas: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    matrix = torch.diag(alphas) + torch.diag(betas, 1) + torch.diag(betas, -1)
    return torch.linalg.eigh(matrix)


def _wanted_ritz_pairs(
    process: _Process, k: int, which: str, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """The wanted Ritz values, their T-eigenvectors, residual estimates and ρ = max|θ|."""
    theta, s = _eigh_tridiagonal(*process.tridiagonal())
    m = len(theta)
    wanted = torch.arange(m - 1, m - 1 - k, -1) if which == "largest" else torch.arange(k)
    return theta[wanted], s[:, wanted], beta * s[-1, wanted].abs(), float(theta.abs().max())


def lanczos_eigenpairs(
    matvec: MatVec,
    start: torch.Tensor,
    k: int,
    which: str,
    tol: float,
    max_steps: int,
    generator: torch.Generator,
) -> LanczosEigenpairs:
    """The k algebraically largest (``which="largest"``) or smallest eigenpairs of the
    symmetric operator ``matvec`` from the start vector ``start``.

    Stops once every wanted Ritz pair has ``β_m |s_{m,i}| ≤ tol · ρ``, ρ the largest |θ|
    found (the spectral radius seen so far), or after ``max_steps`` steps (at least k, at
    most n). After a breakdown the process restarts from a random vector drawn with
    ``generator`` instead of testing: an invariant Krylov space from a random start holds
    every distinct eigenvalue once, and a repeated one's other copies lie outside it.
    """
    n = start.numel()
    max_steps = min(max(max_steps, k), n)
    process = _Process(matvec, start, max_steps)
    while True:
        beta = process.step()
        m = process.steps
        if beta == 0.0 and m < max_steps and process.restart(generator):
            continue
        if m < k and beta == 0.0:
            raise RuntimeError(
                f"Lanczos: no vector left outside a {m}-dimensional invariant subspace"
            )
        if m >= k:
            values, s, residuals, radius = _wanted_ritz_pairs(process, k, which, beta)
            converged = bool((residuals <= tol * max(radius, 1e-300)).all())
            if converged or m >= max_steps or beta == 0.0:
                break
    basis = process.basis[:m]
    return LanczosEigenpairs(values, s.T.to(basis) @ basis, residuals, m, converged)


def lanczos_tridiagonal(
    matvec: MatVec, start: torch.Tensor, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(α, β)`` of T_m after ``steps`` steps from ``start`` (fewer if the Krylov space
    becomes invariant first: then T_m's quadrature is exact), float64 on the CPU."""
    process = _Process(matvec, start, min(steps, start.numel()))
    while process.steps < min(steps, start.numel()):
        if process.step() == 0.0:
            break
    return process.tridiagonal()


def ritz_quadrature(alphas: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes θ_i and weights τ_i = s_{1,i}² of the Gauss quadrature rule that T_m is."""
    theta, s = _eigh_tridiagonal(alphas, betas)
    return theta, s[0] ** 2
