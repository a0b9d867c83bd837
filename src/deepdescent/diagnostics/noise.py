r"""Minibatch gradient noise (Goodfellow et al. §8.1.3; McCandlish et al. 2018).

With per-example gradients Gᵢ = ∇θ L(f(xᵢ; θ), yᵢ) on a batch of B examples, their mean
Ḡ and covariance Σ = Cov[Gᵢ] (estimated with B − 1 in the denominator), a minibatch of m
examples drawn with replacement estimates the gradient G with

    E‖ĝ_m − G‖² = tr Σ / m,       standard error σ/√m with σ² = tr Σ:

the book's point that 100 times more examples buy only 10 times less error. Since
E‖Ḡ‖² = ‖G‖² + tr Σ / B, the unbiased estimate of ‖G‖² is |G|² = ‖Ḡ‖² − tr Σ / B.
McCandlish, Kaplan, Amodei et al. (2018, "An empirical model of large-batch training")
call

    B_simple = tr Σ / |G|²                  (the simple gradient noise scale)
    B_noise  = tr(HΣ) / (Gᵀ H G)            (with the Hessian H)

the batch size at which the noise of a step equals its signal: the critical batch size
B_crit ≈ B_noise, beyond which larger batches stop buying proportionally fewer steps.
B_simple equals B_noise when H is a multiple of the identity. Without per-example
gradients the same two quantities come unbiased from the squared norms of two batch
gradients of sizes b < B (their Appendix A.1):

    |G|² = (B‖G_B‖² − b‖G_b‖²) / (B − b),      tr Σ = (‖G_b‖² − ‖G_B‖²) / (1/b − 1/B).

Per-example gradients come from ``torch.func`` (``vmap`` over ``grad``), one example at a
time where a loss does not vectorize.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from deepdescent.autodiff import flatten
from deepdescent.diagnostics._objective import (
    LossArgument,
    Objective,
    batched_products,
    resolve,
    seeded_generator,
)
from deepdescent.utils._checks import check_argument, check_count, check_positive, is_integer

__all__ = [
    "GradientNoise",
    "gradient_noise",
    "layer_name",
    "noise_from_two_batches",
    "per_example_gradients",
]


def layer_name(parameter_name: str) -> str:
    """The module a parameter belongs to: ``"dense_1.kernel"`` → ``"dense_1"``."""
    return parameter_name.rpartition(".")[0] or parameter_name


class _Forward(torch.nn.Module):
    """The objective's cost as a module, so that ``functional_call`` can swap θ in it."""

    def __init__(self, objective: Objective) -> None:
        super().__init__()
        self.model = objective.model
        self._objective = objective

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._objective.cost(x.unsqueeze(0), y.unsqueeze(0))


def _per_example_blocks(objective: Objective) -> list[torch.Tensor]:
    """One ``(B, numel)`` block per parameter: row i is that parameter's gradient of J on
    example i alone (the penalty included)."""
    wrapper = _Forward(objective)
    names = [f"model.{name}" for name in objective.names]
    detached = {name: p.detach() for name, p in zip(names, objective.params, strict=True)}
    size = len(objective.x)

    def cost(weights: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return functional_call(wrapper, weights, (x, y))

    with objective.evaluating():
        try:
            grads = vmap(grad(cost), in_dims=(None, 0, 0))(detached, objective.x, objective.y)
            return [grads[name].reshape(size, -1) for name in names]
        except RuntimeError:  # an op without a batching rule: one example at a time
            rows = []
            for xi, yi in zip(objective.x, objective.y, strict=True):
                with torch.enable_grad():
                    value = objective.cost(xi.unsqueeze(0), yi.unsqueeze(0))
                    parts = torch.autograd.grad(
                        value, objective.params, materialize_grads=True, allow_unused=True
                    )
                rows.append(flatten(parts))
            return list(torch.stack(rows).split([p.numel() for p in objective.params], dim=1))


def per_example_gradients(objective: Objective) -> torch.Tensor:
    """``(B, n)``: row i is the gradient of J on example i alone (the penalty included),
    from ``torch.func`` (``vmap`` over ``grad``), one example at a time where an op of
    the model or loss does not vectorize."""
    return torch.cat(_per_example_blocks(objective), dim=1)


@dataclass
class GradientNoise:
    """The noise of minibatch gradients, from per-example gradients on one batch.

    Attributes:
        batch_size: B, the examples used.
        gradient_norm_sq: ‖Ḡ‖², the squared norm of the batch's mean gradient.
        true_gradient_norm_sq: |G|² = ‖Ḡ‖² − tr Σ / B (unbiased; may come out ≤ 0 when the
            noise swamps the signal), or ‖G‖² of a given ``true_gradient``.
        trace_covariance: tr Σ, the per-example variance summed over parameters (σ²).
        layer_trace_covariance: tr Σ restricted to each layer's parameters.
        noise_scale: B_simple = tr Σ / |G|² (``inf`` when |G|² ≤ 0).
        critical_batch_size: B_noise = tr(HΣ) / GᵀHG with ``hessian=True`` (``None``
            otherwise, or ``inf`` when GᵀHG ≤ 0).
        batch_sizes: the minibatch sizes m of the standard-error curve.
        standard_errors: √(tr Σ / m) for each m.
        sampled_standard_errors: √(mean ‖ĝ_m − Ḡ‖²) over minibatches drawn with
            replacement from the batch's per-example gradients (the same law, measured).
    """

    batch_size: int
    gradient_norm_sq: float
    true_gradient_norm_sq: float
    trace_covariance: float
    layer_trace_covariance: dict[str, float]
    noise_scale: float
    critical_batch_size: float | None
    batch_sizes: np.ndarray = field(repr=False)
    standard_errors: np.ndarray = field(repr=False)
    sampled_standard_errors: np.ndarray = field(repr=False)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.inf


def _batch_sizes(batch_sizes: Any, limit: int) -> np.ndarray:
    if batch_sizes is None:
        return 2 ** np.arange(int(math.log2(limit)) + 1)
    values = np.asarray(batch_sizes)
    ok = (
        values.ndim == 1
        and len(values) > 0
        and np.issubdtype(values.dtype, np.integer)
        and bool((values >= 1).all())
    )
    check_argument("batch_sizes", batch_sizes, ok, "a non-empty sequence of ints >= 1")
    return values.astype(np.int64)


def _sampled_errors(
    deviations: torch.Tensor, sizes: np.ndarray, draws: int, generator: torch.Generator
) -> np.ndarray:
    """√(mean ‖ĝ_m − Ḡ‖²) over ``draws`` minibatches of each size m drawn with replacement.

    With c the count of each example in a minibatch and K = D Dᵀ the Gram matrix of the
    deviations Dᵢ = Gᵢ − Ḡ, ‖ĝ_m − Ḡ‖² = cᵀKc / m²: one B × B matrix serves every draw.
    """
    gram = (deviations @ deviations.T).double().cpu()
    size = len(gram)
    errors = []
    for m in sizes:
        index = torch.randint(0, size, (draws, int(m)), generator=generator)
        counts = torch.zeros(draws, size, dtype=torch.float64).scatter_add_(
            1, index, torch.ones(draws, int(m), dtype=torch.float64)
        )
        squared = ((counts @ gram) * counts).sum(dim=1) / float(m) ** 2
        errors.append(float(squared.mean().clamp(min=0.0).sqrt()))
    return np.array(errors)


def gradient_noise(
    model: torch.nn.Module,
    loss_fn: LossArgument,
    x: Any,
    y: Any,
    batch_sizes: Any = None,
    hessian: bool = False,
    draws: int = 200,
    seed: int = 0,
    true_gradient: torch.Tensor | None = None,
) -> GradientNoise:
    """The gradient noise of a batch: per-example variance, the standard error against
    minibatch size m, and the noise scale / critical batch size (see the module).

    Args:
        model, loss_fn, x, y: the cost on a batch of B ≥ 2 examples (the population).
        batch_sizes: the m of the standard-error curve (default powers of 2 up to B).
        hessian: also compute B_noise = tr(HΣ)/GᵀHG (B + 1 Hessian-vector products).
        draws: minibatches drawn per m for the measured standard errors (0: none).
        seed: seeds those draws.
        true_gradient: the full-data gradient G (flat) when it is known — over the
            whole training set, say; then |G|² = ‖G‖² exactly, where the batch alone
            gives only the unbiased estimate ‖Ḡ‖² − tr Σ / B (which noise can drive ≤ 0).
    """
    objective = resolve(model, loss_fn, x, y)
    size = len(objective.x)
    check_argument("x", f"{size} examples", size >= 2, "at least 2 examples (a variance needs two)")
    sizes = _batch_sizes(batch_sizes, size)
    draws = check_count("draws", draws, minimum=0)
    generator = seeded_generator(seed)
    blocks = _per_example_blocks(objective)
    # Block by block (torch's var along dim 0 is several times slower than this); the full
    # (B, n) matrix of deviations is assembled only when it is needed.
    means = [block.mean(dim=0) for block in blocks]
    layers: dict[str, float] = defaultdict(float)
    for name, block, block_mean in zip(objective.names, blocks, means, strict=True):
        squares = (block - block_mean).square_().sum(dim=0)
        layers[layer_name(name)] += float(squares.sum(dtype=torch.float64)) / (size - 1)
    trace = sum(layers.values())
    mean = torch.cat(means).double()
    norm_sq = float(mean @ mean)
    if true_gradient is None:
        true_norm_sq = norm_sq - trace / size
    else:
        full = torch.as_tensor(true_gradient).double().reshape(-1)
        check_argument(
            "true_gradient",
            f"shape {tuple(true_gradient.shape)}",
            full.numel() == objective.size,
            f"a flat vector of the {objective.size} parameters' gradient",
        )
        true_norm_sq = float(full @ full)
    deviations = None
    if hessian or draws:
        deviations = torch.cat(blocks, dim=1) - mean.to(blocks[0].dtype)
    critical = (
        None
        if deviations is None or not hessian
        else _critical_batch_size(objective, mean, deviations)
    )
    return GradientNoise(
        batch_size=size,
        gradient_norm_sq=norm_sq,
        true_gradient_norm_sq=true_norm_sq,
        trace_covariance=trace,
        layer_trace_covariance=dict(layers),
        noise_scale=_ratio(trace, true_norm_sq),
        critical_batch_size=critical,
        batch_sizes=sizes,
        standard_errors=np.sqrt(trace / sizes),
        sampled_standard_errors=(
            np.zeros(0)
            if deviations is None
            else _sampled_errors(deviations, sizes, draws, generator)
        ),
    )


def _critical_batch_size(
    objective: Objective, mean: torch.Tensor, deviations: torch.Tensor
) -> float:
    """B_noise = tr(HΣ) / GᵀHG with the unbiased GᵀHG = ḠᵀHḠ − tr(HΣ)/B."""
    like = objective.params[0]
    with objective.hessian() as (_, _, product):
        curved = batched_products(product, deviations.to(like))
        mean_curved = float(mean @ product(mean.to(like)).double())
    trace_h_sigma = float((curved * deviations).sum()) / (len(deviations) - 1)
    return _ratio(trace_h_sigma, mean_curved - trace_h_sigma / len(deviations))


def noise_from_two_batches(
    small_norm_sq: float, large_norm_sq: float, small: int, large: int
) -> tuple[float, float]:
    """Unbiased ``(|G|², tr Σ)`` from the squared norms of two batch gradients of sizes
    ``small`` < ``large`` (McCandlish et al. 2018, Appendix A.1)."""
    check_argument("small", small, is_integer(small) and small >= 1, "an int >= 1")
    check_argument("large", large, is_integer(large) and large > small, f"an int > small ({small})")
    check_positive("small_norm_sq", small_norm_sq)
    check_positive("large_norm_sq", large_norm_sq)
    norm_sq = (large * large_norm_sq - small * small_norm_sq) / (large - small)
    trace = (small_norm_sq - large_norm_sq) / (1 / small - 1 / large)
    return norm_sq, trace
