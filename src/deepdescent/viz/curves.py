"""Learning curves: training and validation loss and metrics against epochs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from deepdescent.viz._figure import save, subplots


def plot_history(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike[str], title: str | None = None
) -> None:
    """Save a PNG with one panel per quantity (loss first), train and ``val_`` curves
    together. ``history`` is ``History.history`` (name → value per epoch).

    The figure is drawn on an Agg canvas of its own, without pyplot: the caller's
    matplotlib backend and open figures are left as they were.
    """
    names = [
        k
        for k in history
        if not k.startswith("val_")
        and k != "learning_rate"
        and not (k == "skipped_steps" and not any(history[k]))  # fit's count, when not 0
    ]
    names.sort(key=lambda name: (name != "loss", name))
    if not names:
        raise ValueError("history has nothing to plot")
    figure, axes = subplots(len(names))
    for axis, name in zip(axes[0], names, strict=True):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], marker="o", label=f"training {name}")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], marker="s", label=f"validation {name}")
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend()
    save(figure, path, title)
