"""Learning curves: training and validation loss and metrics against epochs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from deepdescent.utils.io import atomic_path


def plot_history(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike[str], title: str | None = None
) -> None:
    """Save a PNG with one panel per quantity (loss first), train and ``val_`` curves
    together. ``history`` is ``History.history`` (name → value per epoch)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], marker="o", label=f"training {name}")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], marker="s", label=f"validation {name}")
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    plt.close(figure)
