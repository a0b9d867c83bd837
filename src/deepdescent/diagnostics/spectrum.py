r"""The Hessian's spectrum from products alone: extreme eigenpairs, trace, density, saddles.

For the cost J(θ) of a model on a batch, H = ∇²J(θ) (n × n, n the number of trainable
parameters) is never formed; every quantity comes from products ``H v``
(:func:`deepdescent.autodiff.hessian_operator`: the gradient's graph is built once and
each product is one backward pass through it):

* **extreme eigenpairs** — the k algebraically largest or smallest, by Lanczos with full
  reorthogonalization (:mod:`~deepdescent.diagnostics.lanczos`, the default) or by shifted
  power iteration (:mod:`~deepdescent.diagnostics.power_iteration`), both stopped on the
  residual ‖Hv − θv‖. A negative smallest eigenvalue is a direction of descent at a
  critical point: a saddle (Goodfellow et al. §8.2.3).
* **trace** — Hutchinson's estimator (Hutchinson 1990): for Rademacher probes z
  (entries ±1), E[zᵀHz] = tr H and Var[zᵀHz] = 2(‖H‖²_F − Σᵢ H²ᵢᵢ), so the mean of N probes
  has standard error √(2(‖H‖²_F − Σᵢ H²ᵢᵢ)/N), estimated here from the probes' spread.
* **spectral density** — stochastic Lanczos quadrature (Lin, Saad & Yang 2016; Ghorbani,
  Krishnan & Xiao 2019): for unit Rademacher starts q = z/√n, m Lanczos steps give the
  Gauss rule (θᵢ, τᵢ) of q's spectral measure, and φ(t) = (1/n_v) Σ_v Σᵢ τᵢ g_σ(t − θᵢ)
  (g_σ a Gaussian of width σ) estimates the density of eigenvalues (1/n) Σⱼ δ(t − λⱼ).
  It integrates to 1; n·Σᵢ τᵢ [θᵢ < 0] estimates the number of negative eigenvalues.
* **condition number** λ_max/λ_min when H is positive definite, and the count of
  negative directions.

``method="exact"`` forms the dense Hessian (n products in one vectorised call) and uses
``torch.linalg.eigh``: exact but n² memory, so it is refused above ``exact_limit``
parameters, falling back to Lanczos / Hutchinson / SLQ with a warning that says so.

References:
    C. Lanczos (1950); G. H. Golub & C. F. Van Loan, *Matrix Computations* (4th ed.),
    §10.1. M. F. Hutchinson, "A stochastic estimator of the trace of the influence matrix
    for Laplacian smoothing splines" (1990). L. Lin, Y. Saad & C. Yang, "Approximating
    spectral densities of large matrices", SIAM Review 58 (2016). B. Ghorbani, S.
    Krishnan & Y. Xiao, "An investigation into neural net optimization via Hessian
    eigenvalue density", ICML 2019. Z. Yao et al., "PyHessian", IEEE BigData 2020.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from deepdescent.diagnostics._objective import (
    LossArgument,
    Objective,
    batched_products,
    resolve,
    seeded_generator,
)
from deepdescent.diagnostics.lanczos import lanczos_eigenpairs, lanczos_tridiagonal, ritz_quadrature
from deepdescent.diagnostics.power_iteration import power_iteration
from deepdescent.utils._checks import check_argument, check_count, check_positive, is_integer

__all__ = [
    "EXACT_LIMIT",
    "HessianEigenpairs",
    "HessianSummary",
    "SpectralDensity",
    "TraceEstimate",
    "choose_method",
    "hessian_eigenvalues",
    "hessian_spectral_density",
    "hessian_summary",
    "hessian_trace",
]

EXACT_LIMIT = 2000
"""The most parameters for which ``method="exact"`` forms the dense Hessian."""

Product = Callable[[torch.Tensor], torch.Tensor]


# -- shared pieces ------------------------------------------------------------------------


def _gaussian(count: int, like: Objective, generator: torch.Generator) -> torch.Tensor:
    """Random vectors drawn on the CPU (the same on every device), moved to the model's."""
    draws = torch.randn(count, like.size, generator=generator, dtype=torch.float64)
    return draws.to(like.params[0])


def _rademacher(count: int, like: Objective, generator: torch.Generator) -> torch.Tensor:
    draws = torch.randint(0, 2, (count, like.size), generator=generator, dtype=torch.int8)
    return (2 * draws - 1).to(like.params[0])


def choose_method(method: Any, allowed: tuple[str, ...], size: int, limit: int, caller: str) -> str:
    """``method`` checked against ``allowed``; ``"exact"`` above ``limit`` parameters falls
    back to ``allowed[0]`` with a warning naming ``caller`` and the sizes."""
    check_argument("method", method, method in allowed, f"one of {', '.join(allowed)}")
    if method == "exact" and size > limit:
        fallback = allowed[0]
        warnings.warn(
            f"{caller}: method='exact' forms the dense {size} x {size} Hessian, and the model's "
            f"{size} parameters exceed exact_limit={limit}; using {fallback!r} instead",
            stacklevel=3,
        )
        return fallback
    return str(method)


def _dense_hessian(product: Product, objective: Objective) -> torch.Tensor:
    eye = torch.eye(
        objective.size, dtype=objective.params[0].dtype, device=objective.params[0].device
    )
    hessian = batched_products(product, eye).to(torch.float64)
    return 0.5 * (hessian + hessian.T)


# -- eigenpairs ---------------------------------------------------------------------------


@dataclass
class HessianEigenpairs:
    """Extreme eigenpairs of the Hessian.

    Attributes:
        values: ``(k,)`` eigenvalues (float64), descending for ``"largest"``, ascending for
            ``"smallest"``.
        vectors: ``(k, n)`` unit eigenvectors over the flattened trainable parameters, one
            per row, in the model's dtype and device.
        residuals: ``(k,)`` ‖H v − λ v‖ of each pair, recomputed with fresh products.
        method: ``"lanczos"``, ``"power"`` or ``"exact"`` (what ran, after any fallback).
        products: Hessian-vector products used (the residual check included).
        converged: whether every residual met the tolerance.
    """

    values: torch.Tensor
    vectors: torch.Tensor
    residuals: torch.Tensor
    method: str
    products: int
    converged: bool


def _end(size: int, k: int, which: str) -> torch.Tensor:
    """Indices of the k largest (descending) or smallest (ascending) of ``size`` sorted values."""
    return torch.arange(size - 1, size - 1 - k, -1) if which == "largest" else torch.arange(k)


def _exact_pairs(
    values: torch.Tensor, vectors: torch.Tensor, k: int, which: str, like: torch.Tensor
) -> HessianEigenpairs:
    """The wanted pairs of a full ``eigh`` (vectors as columns), vectors cast ``like``."""
    order = _end(len(values), k, which)
    rows = vectors[:, order].T.to(like)
    zeros = torch.zeros(k, dtype=torch.float64)
    return HessianEigenpairs(values[order], rows, zeros, "exact", len(values), True)


def _eigenpairs(
    objective: Objective,
    product: Product,
    k: int,
    which: str,
    method: str,
    tol: float,
    max_steps: int | None,
    generator: torch.Generator,
) -> HessianEigenpairs:
    count = 0

    def counted(v: torch.Tensor) -> torch.Tensor:
        nonlocal count
        count += 1
        return product(v)

    if method == "exact":
        spectrum, basis = torch.linalg.eigh(_dense_hessian(product, objective))
        exact = _exact_pairs(spectrum, basis, k, which, objective.params[0])
        values, vectors = exact.values, exact.vectors
        count, converged = objective.size, True
    elif method == "power":
        starts = _gaussian(k + 1, objective, generator)
        found = power_iteration(counted, starts, k, which, tol, max_steps or 1000)
        values, vectors, converged = found.values, found.vectors, found.converged
    else:
        start = _gaussian(1, objective, generator)[0]
        steps = max_steps or min(objective.size, 100 + 2 * k)
        ritz = lanczos_eigenpairs(counted, start, k, which, tol, steps, generator)
        values, vectors, converged = ritz.values, ritz.vectors, ritz.converged
    applied = batched_products(product, vectors)
    count += len(vectors)
    residuals = torch.linalg.vector_norm(
        applied.double() - values.to(applied.device)[:, None] * vectors.double(), dim=1
    ).cpu()
    if not converged:
        warnings.warn(
            f"Hessian eigenpairs ({method}, which={which!r}) did not reach tol={tol} in "
            f"{count} products (residuals {[f'{r:.3g}' for r in residuals.tolist()]}); "
            "raise max_steps or tol",
            RuntimeWarning,
            stacklevel=3,
        )
    return HessianEigenpairs(values.cpu(), vectors, residuals, method, count, converged)


def _check_k(k: Any, objective: Objective) -> int:
    check_argument(
        "k", k, is_integer(k) and 1 <= k <= objective.size, f"an int in [1, {objective.size}]"
    )
    return int(k)


def hessian_eigenvalues(
    model: torch.nn.Module,
    loss_fn: LossArgument,
    x: Any,
    y: Any,
    k: int = 1,
    which: str = "largest",
    method: str = "lanczos",
    tol: float = 1e-5,
    max_steps: int | None = None,
    seed: int = 0,
    exact_limit: int = EXACT_LIMIT,
) -> HessianEigenpairs:
    """The k algebraically largest or smallest eigenvalues of H = ∇²J(θ) and their vectors.

    Args:
        model, loss_fn, x, y: the cost J(θ) on a batch (see :mod:`deepdescent.diagnostics`).
        k: how many eigenpairs.
        which: ``"largest"`` (algebraically: the most positive) or ``"smallest"`` (the
            most negative — a saddle's escape direction when below 0).
        method: ``"lanczos"``, ``"power"`` or ``"exact"`` (dense; above ``exact_limit``
            parameters it falls back to Lanczos with a warning).
        tol: stop once ‖Hv − θv‖ ≤ tol · ρ for every pair, ρ the spectral radius estimate.
        max_steps: products allowed (Lanczos: in all, default min(n, 100 + 2k); power
            iteration: per eigenpair, default 1000). Not converging warns.
        seed: seeds the random start vectors.

    Example:
        The saddle J(w) = w₁² − w₂² has eigenvalues 2 and −2:

        >>> import torch
        >>> class Saddle(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.w = torch.nn.Parameter(torch.tensor([0.3, -0.2]))
        ...     def forward(self, x):
        ...         return (self.w[0] ** 2 - self.w[1] ** 2).expand(len(x))
        >>> batch = torch.zeros(4, 1)
        >>> cost = lambda y_true, y_pred: y_pred  # per-example values, averaged
        >>> pairs = hessian_eigenvalues(Saddle(), cost, batch, batch[:, 0], which="smallest")
        >>> round(float(pairs.values[0]), 4), [round(abs(float(v)), 4) for v in pairs.vectors[0]]
        (-2.0, [0.0, 1.0])
    """
    objective = resolve(model, loss_fn, x, y)
    k = _check_k(k, objective)
    check_argument("which", which, which in ("largest", "smallest"), "'largest' or 'smallest'")
    check_positive("tol", tol)
    if max_steps is not None:
        check_count("max_steps", max_steps)
    method = choose_method(
        method, ("lanczos", "power", "exact"), objective.size, exact_limit, "hessian_eigenvalues"
    )
    with objective.hessian() as (_, _, product):
        return _eigenpairs(
            objective, product, k, which, method, tol, max_steps, seeded_generator(seed)
        )


# -- trace --------------------------------------------------------------------------------


@dataclass
class TraceEstimate:
    """tr H, estimated or exact.

    Attributes:
        value: the estimate (the mean of the probes' zᵀHz), or the exact trace.
        standard_error: the sample standard deviation of zᵀHz over √N (0 when exact).
        num_probes: N (0 when exact).
        method: ``"hutchinson"`` or ``"exact"``.
        samples: the N values zᵀHz (float64; empty when exact).
    """

    value: float
    standard_error: float
    num_probes: int
    method: str
    samples: torch.Tensor = field(repr=False)


def _hutchinson(
    product: Product,
    objective: Objective,
    num_probes: int,
    generator: torch.Generator,
    chunk: int = 32,
) -> TraceEstimate:
    samples = []
    for start in range(0, num_probes, chunk):
        probes = _rademacher(min(chunk, num_probes - start), objective, generator)
        samples.append((probes * batched_products(product, probes)).sum(dim=1).double().cpu())
    values = torch.cat(samples)
    spread = float(values.std()) / math.sqrt(num_probes) if num_probes > 1 else math.inf
    return TraceEstimate(float(values.mean()), spread, num_probes, "hutchinson", values)


def hessian_trace(
    model: torch.nn.Module,
    loss_fn: LossArgument,
    x: Any,
    y: Any,
    num_probes: int = 100,
    seed: int = 0,
    method: str = "hutchinson",
    exact_limit: int = EXACT_LIMIT,
) -> TraceEstimate:
    """tr ∇²J(θ) by Hutchinson's estimator with ``num_probes`` Rademacher probes (products
    in vectorised batches), or exactly (``method="exact"``, up to ``exact_limit``
    parameters, else the estimator with a warning)."""
    objective = resolve(model, loss_fn, x, y)
    num_probes = check_count("num_probes", num_probes)
    method = choose_method(
        method, ("hutchinson", "exact"), objective.size, exact_limit, "hessian_trace"
    )
    with objective.hessian() as (_, _, product):
        if method == "exact":
            trace = float(torch.trace(_dense_hessian(product, objective)))
            return TraceEstimate(trace, 0.0, 0, "exact", torch.zeros(0, dtype=torch.float64))
        return _hutchinson(product, objective, num_probes, seeded_generator(seed))


# -- density ------------------------------------------------------------------------------


@dataclass
class SpectralDensity:
    """A quadrature of the Hessian's eigenvalue distribution (1/n) Σⱼ δ(t − λⱼ).

    Attributes:
        nodes: one float64 tensor of Ritz values θᵢ per start vector.
        weights: the matching τᵢ (each tensor sums to 1).
        dimension: n, the number of parameters.
        method: ``"slq"`` or ``"exact"`` (one node per eigenvalue, weight 1/n).
    """

    nodes: list[torch.Tensor]
    weights: list[torch.Tensor]
    dimension: int
    method: str

    def default_sigma(self) -> float:
        """1% of the span of the nodes (or 1e-3 when they coincide)."""
        everything = torch.cat(self.nodes)
        span = float(everything.max() - everything.min())
        return 0.01 * span if span > 0 else 1e-3

    def evaluate(self, t: Any, sigma: float | None = None) -> np.ndarray:
        """φ(t) = mean over start vectors of Σᵢ τᵢ N(t; θᵢ, σ²), at the points ``t``."""
        sigma = self.default_sigma() if sigma is None else check_positive("sigma", sigma)
        points = np.asarray(t, dtype=np.float64)[..., None]
        total = np.zeros(np.shape(t))
        for nodes, weights in zip(self.nodes, self.weights, strict=True):
            kernel = np.exp(-0.5 * ((points - nodes.numpy()) / sigma) ** 2)
            total += (kernel * weights.numpy()).sum(axis=-1)
        return total / (len(self.nodes) * sigma * math.sqrt(2 * math.pi))

    def grid(self, points: int = 1000, sigma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(t, φ(t))`` on ``points`` points spanning the nodes ± 6σ."""
        sigma = self.default_sigma() if sigma is None else sigma
        everything = torch.cat(self.nodes)
        t = np.linspace(
            float(everything.min()) - 6 * sigma, float(everything.max()) + 6 * sigma, points
        )
        return t, self.evaluate(t, sigma)

    def fraction_below(self, threshold: float) -> float:
        """The estimated fraction of eigenvalues below ``threshold``: mean Σᵢ τᵢ [θᵢ < t]."""
        parts = [
            float(w[n < threshold].sum()) for n, w in zip(self.nodes, self.weights, strict=True)
        ]
        return sum(parts) / len(parts)


def _slq(
    product: Product, objective: Objective, steps: int, num_vectors: int, generator: torch.Generator
) -> SpectralDensity:
    nodes, weights = [], []
    for probe in _rademacher(num_vectors, objective, generator):
        theta, tau = ritz_quadrature(*lanczos_tridiagonal(product, probe, steps))
        nodes.append(theta)
        weights.append(tau)
    return SpectralDensity(nodes, weights, objective.size, "slq")


def _exact_density(eigenvalues: torch.Tensor) -> SpectralDensity:
    n = len(eigenvalues)
    return SpectralDensity(
        [eigenvalues], [torch.full((n,), 1.0 / n, dtype=torch.float64)], n, "exact"
    )


def hessian_spectral_density(
    model: torch.nn.Module,
    loss_fn: LossArgument,
    x: Any,
    y: Any,
    steps: int = 64,
    num_vectors: int = 4,
    seed: int = 0,
    method: str = "slq",
    exact_limit: int = EXACT_LIMIT,
) -> SpectralDensity:
    """The eigenvalue density of ∇²J(θ) by stochastic Lanczos quadrature: ``num_vectors``
    Rademacher starts, ``steps`` Lanczos steps each (fewer when the Krylov space closes,
    which makes the rule exact); or every eigenvalue (``method="exact"``)."""
    objective = resolve(model, loss_fn, x, y)
    steps = check_count("steps", steps)
    num_vectors = check_count("num_vectors", num_vectors)
    method = choose_method(
        method, ("slq", "exact"), objective.size, exact_limit, "hessian_spectral_density"
    )
    with objective.hessian() as (_, _, product):
        if method == "exact":
            return _exact_density(torch.linalg.eigvalsh(_dense_hessian(product, objective)))
        return _slq(product, objective, steps, num_vectors, seeded_generator(seed))


# -- the summary --------------------------------------------------------------------------


@dataclass
class HessianSummary:
    """The standard set: extreme eigenvalues, trace, density, conditioning and saddles.

    Attributes:
        size: n, the number of parameters.
        method: ``"exact"`` (from every eigenvalue) or ``"lanczos"`` (Lanczos for the ends,
            Hutchinson for the trace, SLQ for the density and the negative count).
        top: the k largest eigenpairs.
        bottom: the smallest eigenpair.
        trace: tr H.
        density: the spectral density.
        condition_number: λ_max/λ_min when λ_min > 0; ``None`` when H is not positive
            definite (then the ratio is no condition number).
        negative_threshold: eigenvalues below −negative_threshold count as negative.
        negative_count: how many eigenvalues lie below it (estimated by SLQ unless exact).
    """

    size: int
    method: str
    top: HessianEigenpairs
    bottom: HessianEigenpairs
    trace: TraceEstimate
    density: SpectralDensity
    condition_number: float | None
    negative_threshold: float
    negative_count: float

    @property
    def negative_fraction(self) -> float:
        return self.negative_count / self.size


def hessian_summary(
    model: torch.nn.Module,
    loss_fn: LossArgument,
    x: Any,
    y: Any,
    k: int = 3,
    method: str = "auto",
    num_probes: int = 100,
    steps: int = 64,
    num_vectors: int = 4,
    tol: float = 1e-5,
    negative_tol: float = 1e-3,
    seed: int = 0,
    exact_limit: int = EXACT_LIMIT,
) -> HessianSummary:
    """Everything of this module at once, sharing one gradient graph.

    ``method="auto"`` is exact up to ``exact_limit`` parameters and Lanczos beyond;
    ``negative_tol`` sets the threshold of a negative direction relative to the spectral
    radius (eigenvalues of size rounding error are neither sign).
    """
    objective = resolve(model, loss_fn, x, y)
    k = _check_k(k, objective)
    check_positive("negative_tol", negative_tol)
    if method == "auto":
        method = "exact" if objective.size <= exact_limit else "lanczos"
    method = choose_method(
        method, ("lanczos", "exact"), objective.size, exact_limit, "hessian_summary"
    )
    generator = seeded_generator(seed)
    with objective.hessian() as (_, _, product):
        if method == "exact":
            values, vectors = torch.linalg.eigh(_dense_hessian(product, objective))
            like = objective.params[0]
            top, bottom = (
                _exact_pairs(values, vectors, k, "largest", like),
                _exact_pairs(values, vectors, 1, "smallest", like),
            )
            trace = TraceEstimate(
                float(values.sum()), 0.0, 0, "exact", torch.zeros(0, dtype=torch.float64)
            )
            density = _exact_density(values)
        else:
            top = _eigenpairs(objective, product, k, "largest", "lanczos", tol, None, generator)
            bottom = _eigenpairs(objective, product, 1, "smallest", "lanczos", tol, None, generator)
            trace = _hutchinson(
                product, objective, check_count("num_probes", num_probes), generator
            )
            density = _slq(
                product,
                objective,
                check_count("steps", steps),
                check_count("num_vectors", num_vectors),
                generator,
            )
    largest, smallest = float(top.values[0]), float(bottom.values[0])
    threshold = negative_tol * max(abs(largest), abs(smallest))
    negative = density.fraction_below(-threshold) * objective.size
    condition = largest / smallest if smallest > 0 else None
    return HessianSummary(
        objective.size, method, top, bottom, trace, density, condition, threshold, negative
    )
