"""Pictures of a training run's diagnostics: the book's Figure 8.1, cliffs, curvature along
the gradient, learning versus optimization, saturation."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepdescent.viz._figure import save, subplots

__all__ = [
    "plot_cliffs",
    "plot_curvature",
    "plot_gradient_norm_and_error",
    "plot_learning",
    "plot_measurements",
    "plot_saturation",
]


def _epochs(steps: np.ndarray, steps_per_epoch: int) -> np.ndarray:
    return (np.asarray(steps, dtype=np.float64) + 1) / steps_per_epoch


def plot_gradient_norm_and_error(
    gradient_norms: Sequence[float] | np.ndarray,
    steps_per_epoch: int,
    errors: Mapping[str, Sequence[float]],
    path: str | os.PathLike[str],
    title: str | None = None,
) -> None:
    """Goodfellow et al.'s Figure 8.1: left, every step's gradient norm against training
    time (with each epoch's median); right, the classification error per epoch
    (``errors``: label → 0-1 loss per epoch)."""
    norms = np.asarray(gradient_norms, dtype=np.float64)
    figure, axes = subplots(2)
    left, right = axes[0]
    left.scatter(
        _epochs(np.arange(len(norms)), steps_per_epoch), norms, s=2, alpha=0.3, label="each step"
    )
    epochs = len(norms) // steps_per_epoch
    medians = [
        np.median(norms[e * steps_per_epoch : (e + 1) * steps_per_epoch]) for e in range(epochs)
    ]
    left.plot(np.arange(1, epochs + 1), medians, color="black", marker="o", label="epoch median")
    left.set(xlabel="training time (epochs)", ylabel="gradient norm ‖g‖")
    left.legend()
    for label, values in errors.items():
        right.plot(np.arange(1, len(values) + 1), values, marker="o", label=label)
    right.set(xlabel="training time (epochs)", ylabel="classification error (0-1 loss)")
    right.legend()
    for axis in axes[0]:
        axis.grid(alpha=0.3)
    save(figure, path, title)


def plot_cliffs(
    gradient_norms: Sequence[float] | np.ndarray,
    spikes: Sequence[int] | np.ndarray,
    update_steps: Sequence[int],
    update_ratios: Mapping[str, Sequence[float]],
    path: str | os.PathLike[str],
    clipped: Sequence[bool] | np.ndarray | None = None,
    title: str | None = None,
) -> None:
    """Left: every step's gradient norm (log scale), spikes and clipped steps marked.
    Right: each layer's update-to-weight ratio ‖Δθ_l‖/‖θ_l‖ (log scale)."""
    norms = np.asarray(gradient_norms, dtype=np.float64)
    figure, axes = subplots(2)
    left, right = axes[0]
    steps = np.arange(len(norms))
    left.plot(steps, norms, linewidth=0.6, label="‖g_t‖")
    marks = np.asarray(spikes, dtype=np.int64)
    if len(marks):
        left.scatter(marks, norms[marks], color="red", zorder=3, label="spike")
    if clipped is not None and np.any(clipped):
        hit = np.flatnonzero(np.asarray(clipped))
        left.scatter(hit, norms[hit], color="orange", s=6, label="clipped")
    left.set(xlabel="step", ylabel="gradient norm", yscale="log")
    left.legend()
    for layer, ratios in update_ratios.items():
        right.plot(update_steps, ratios, label=layer)
    right.set(xlabel="step", ylabel="‖Δθ‖ / ‖θ‖ per layer", yscale="log")
    if update_ratios:
        right.legend()
    for axis in axes[0]:
        axis.grid(alpha=0.3)
    save(figure, path, title)


def plot_curvature(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike[str], title: str | None = None
) -> None:
    """Ill-conditioning along training (``CurvatureMonitor.history``): gᵀg and gᵀHg on
    the left (log scale), the predicted change ½ε²gᵀHg − εgᵀg of a step on the right."""
    steps = history["step"]
    figure, axes = subplots(2)
    left, right = axes[0]
    left.plot(steps, history["gradient_norm_sq"], label="gᵀg")
    left.plot(steps, np.abs(history["gradient_curvature"]), label="|gᵀHg|")
    left.set(xlabel="step", yscale="log")
    left.legend()
    if "predicted_change" in history:
        right.plot(steps, history["predicted_change"], color="purple")
        right.axhline(0.0, color="black", linewidth=0.8)
    right.set(xlabel="step", ylabel="½ε²gᵀHg − εgᵀg (predicted change)")
    for axis in axes[0]:
        axis.grid(alpha=0.3)
    save(figure, path, title)


def plot_learning(
    summary: Mapping[str, Any], path: str | os.PathLike[str], title: str | None = None
) -> None:
    """Learning versus pure optimization (``learning_summary``): the surrogate on the left,
    the 0-1 loss on the right, training and validation, early stopping's epoch marked."""
    figure, axes = subplots(2)
    left, right = axes[0]
    epochs = np.arange(1, summary["epochs"] + 1)
    for axis, key, label in (
        (left, "loss", "surrogate (cross-entropy)"),
        (right, "zero_one_loss", "0-1 loss"),
    ):
        for prefix, name in (("", "training"), ("val_", "validation")):
            if summary.get(prefix + key) is not None:
                axis.plot(epochs, summary[prefix + key], marker="o", label=name)
        stopping = summary.get("early_stopping")
        if stopping is not None:
            axis.axvline(
                stopping["best_epoch"] + 1,
                color="gray",
                linestyle="--",
                label="early stopping's epoch",
            )
        axis.set(xlabel="epoch", ylabel=label)
        axis.grid(alpha=0.3)
        axis.legend()
    save(figure, path, title)


def plot_saturation(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike[str], title: str | None = None
) -> None:
    """``SaturationMonitor.history``: each layer's saturated and dead fractions over time."""
    figure, axes = subplots(1)
    axis = axes[0][0]
    epochs = np.asarray(history["epoch"]) + 1  # measured at the end of each epoch
    for name, values in history.items():
        if name.startswith(("saturated/", "dead/")):
            style = "-" if name.startswith("saturated/") else "--"
            axis.plot(epochs, values, style, marker="o", label=name)
    axis.set(xlabel="epoch", ylabel="fraction", ylim=(-0.02, 1.02))
    axis.grid(alpha=0.3)
    axis.legend()
    save(figure, path, title)


def plot_measurements(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike[str], title: str | None = None
) -> None:
    """A monitor's ``history`` (``"step"``, ``"epoch"`` and each measured name → one value
    per measurement): one panel per measured quantity against the training step."""
    names = [name for name in history if name not in ("step", "epoch")]
    if not names:
        raise ValueError("history has no measurements to plot")
    figure, axes = subplots(min(len(names), 4), rows=-(-len(names) // 4))
    panels = axes.ravel()
    for axis, name in zip(panels, names, strict=False):
        axis.plot(history["step"], history[name], marker="o", markersize=3)
        axis.set(xlabel="step", ylabel=name)
        axis.grid(alpha=0.3)
    for axis in panels[len(names) :]:
        axis.set_visible(False)
    save(figure, path, title)
