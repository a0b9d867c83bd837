r"""Cliffs and exploding gradients (Goodfellow et al. §8.2.4).

Where the cost has a cliff — a sharp wall made by multiplying several large weights — the
gradient is huge for one step, and the update can throw the parameters far away. What
shows it during training:

* **gradient-norm spikes**: steps whose ‖g_t‖ exceeds ``factor`` times the median of the
  previous ``window`` steps' norms (the median, so that one spike does not hide the next);
* **the fraction of steps clipped** (§10.11.1, Pascanu et al. 2013): with a threshold c,
  the steps with ‖g_t‖ > c, which gradient clipping rescales to norm c;
* **the update-to-weight ratio** ‖Δθ_l‖ / ‖θ_l‖ of each layer l: around 10⁻³ per step in
  healthy SGD training (a rule of thumb of Karpathy's CS231n notes); orders of magnitude
  above it is a layer thrown off a cliff, below it a layer that does not learn.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from deepdescent.diagnostics._objective import LossArgument, resolve
from deepdescent.diagnostics.noise import layer_name
from deepdescent.utils._checks import check_argument, check_count, check_positive

__all__ = ["clipped_fraction", "gradient_spikes", "layer_gradient_norms", "update_to_weight_ratios"]


def gradient_spikes(
    norms: Sequence[float] | np.ndarray, factor: float = 5.0, window: int = 20
) -> np.ndarray:
    """Indices t with ``norms[t] > factor · median(norms[t − window : t])`` (once at least
    ``min(window, 5)`` earlier steps exist)."""
    check_positive("factor", factor)
    window = check_count("window", window)
    values = np.asarray(norms, dtype=np.float64)
    least = min(window, 5)
    if len(values) <= least:
        return np.zeros(0, dtype=np.int64)
    # The median of the `window` steps before each t (fewer at the start), vectorised.
    padded = np.concatenate([np.full(window, np.nan), values[:-1]])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)[least:]
    medians = np.nanmedian(windows, axis=1)
    return np.flatnonzero(values[least:] > factor * medians) + least


def clipped_fraction(norms: Sequence[float] | np.ndarray, threshold: float) -> float:
    """The fraction of steps whose gradient norm exceeds the clipping threshold."""
    check_positive("threshold", threshold)
    values = np.asarray(norms, dtype=np.float64)
    check_argument("norms", norms, len(values) > 0, "at least one gradient norm")
    return float((values > threshold).mean())


def _by_layer(named: Mapping[str, torch.Tensor]) -> dict[str, float]:
    squares: dict[str, float] = defaultdict(float)
    for name, tensor in named.items():
        squares[layer_name(name)] += float((tensor.detach().double() ** 2).sum())
    return squares


def update_to_weight_ratios(
    before: Mapping[str, torch.Tensor], after: Mapping[str, torch.Tensor]
) -> dict[str, float]:
    """‖θ_l(after) − θ_l(before)‖ / ‖θ_l(before)‖ for each layer l, from parameters by name
    (``dict(model.named_parameters())`` copies); ``inf`` for a layer at zero."""
    check_argument(
        "after",
        sorted(after),
        sorted(after) == sorted(before),
        f"the names of before: {sorted(before)}",
    )
    changes = _by_layer({name: after[name] - before[name] for name in before})
    sizes = _by_layer(before)
    return {
        layer: (changes[layer] / sizes[layer]) ** 0.5 if sizes[layer] > 0 else np.inf
        for layer in sizes
    }


def layer_gradient_norms(
    model: torch.nn.Module, loss_fn: LossArgument, x: Any, y: Any
) -> dict[str, float]:
    """‖∇_{θ_l} J‖ for each layer l on the batch, and ``"total"``: ‖∇θ J‖."""
    objective = resolve(model, loss_fn, x, y)
    _, gradient = objective.gradient()
    squares = _by_layer(dict(zip(objective.names, objective.split(gradient), strict=True)))
    return {layer: value**0.5 for layer, value in squares.items()} | {
        "total": float(gradient.norm())
    }
