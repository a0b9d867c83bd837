"""Plots of an optimizer comparison: learning curves with a band over seeds, and the
learning-rate search.

Each figure is drawn with matplotlib's Agg backend and saved as a PNG atomically. The
curves of an optimizer are the mean over its
seeds, epoch by epoch, with the band from the least to the greatest seed; a seed that
stopped early (diverged) is left out of the epochs it did not reach. Against wall time,
an epoch sits at the seeds' mean training time at its end.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepdescent.viz._figure import save, subplots

__all__ = ["CURVE_TITLES", "Curves", "SearchTrials", "plot_curves", "plot_search"]

#: optimizer → one mapping per seed: quantity name → its value after each epoch.
Curves = Mapping[str, Sequence[Mapping[str, Sequence[float]]]]
#: optimizer → (learning rates tried, score of each, the rate chosen or ``None``).
SearchTrials = Mapping[str, tuple[Sequence[float], Sequence[float], float | None]]

#: The panels, in order, for the quantities a comparison has.
CURVE_TITLES = {
    "loss": "training loss",
    "val_loss": "validation loss",
    "accuracy": "training accuracy",
    "val_accuracy": "validation accuracy",
}
_AXES = {"epoch": "epoch", "time": "training time (s)"}


def _panels(panels: int, columns: int) -> tuple[Any, list[Any]]:
    """A figure with ``panels`` axes, ``columns`` to a row."""
    figure, grid = subplots(columns, -(-panels // columns), size=(5.2, 3.8))
    axes = list(grid.ravel())
    for unused in axes[panels:]:
        unused.remove()
    return figure, axes[:panels]


def _stacked(seeds: Sequence[Mapping[str, Sequence[float]]], name: str) -> np.ndarray:
    """``(seeds, epochs)`` values of ``name``, NaN where a seed has none."""
    length = max(len(seed.get(name, ())) for seed in seeds)
    stacked = np.full((len(seeds), length), np.nan)
    for row, seed in enumerate(seeds):
        values = np.asarray(seed.get(name, ()), dtype=np.float64)
        stacked[row, : len(values)] = values
    stacked[~np.isfinite(stacked)] = np.nan
    return stacked


def _nan_statistics(stacked: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an epoch no seed reached
        return (
            np.nanmean(stacked, axis=0),
            np.nanmin(stacked, axis=0),
            np.nanmax(stacked, axis=0),
        )


def plot_curves(
    curves: Curves,
    path: str | os.PathLike[str],
    *,
    against: str = "epoch",
    title: str | None = None,
) -> Any:
    """Save a PNG with a panel per quantity of :data:`CURVE_TITLES` the curves have, in
    that order, one line per optimizer (the mean over seeds) with a band from the least
    to the greatest seed, against ``"epoch"`` or ``"time"``. Returns the matplotlib
    ``Figure``."""
    if against not in _AXES:
        raise ValueError(f"Invalid against: {against!r} (expected 'epoch' or 'time')")
    if not curves:
        raise ValueError("Invalid curves: {} (expected at least one optimizer)")
    import matplotlib

    names = [n for n in CURVE_TITLES if any(n in s for seeds in curves.values() for s in seeds)]
    if not names:
        raise ValueError(f"Invalid curves: none of {list(CURVE_TITLES)} to plot")
    figure, axes = _panels(len(names), 2)
    colors = matplotlib.color_sequences["tab10"]
    for index, (optimizer, seeds) in enumerate(curves.items()):
        color = colors[index % len(colors)]
        x = _nan_statistics(_stacked(seeds, against))[0]
        for axis, name in zip(axes, names, strict=True):
            mean, low, high = _nan_statistics(_stacked(seeds, name))
            shown = np.isfinite(mean) & np.isfinite(x[: len(mean)])
            xs = x[: len(mean)][shown]
            axis.plot(xs, mean[shown], "-o", color=color, lw=1.6, ms=3, label=optimizer)
            if len(seeds) > 1:
                axis.fill_between(xs, low[shown], high[shown], color=color, alpha=0.2, lw=0)
    for axis, name in zip(axes, names, strict=True):
        axis.set(title=CURVE_TITLES[name], xlabel=_AXES[against], ylabel=name)
        values = np.concatenate([_stacked(s, name).ravel() for s in curves.values()])
        if "loss" in name and np.nanmin(values, initial=np.inf) > 0:
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    save(figure, path, title)
    return figure


def plot_search(
    trials: SearchTrials, metric: str, path: str | os.PathLike[str], title: str | None = None
) -> Any:
    """Save a PNG of each optimizer's search: ``metric`` against the learning rate (log
    scale), the rate chosen starred; a diverged trial (NaN) leaves a gap. Returns the
    matplotlib ``Figure``."""
    if not trials:
        raise ValueError("Invalid trials: {} (expected at least one optimizer)")
    import matplotlib

    figure, (axis,) = _panels(1, 1)
    colors = matplotlib.color_sequences["tab10"]
    for index, (optimizer, (rates, scores, chosen)) in enumerate(trials.items()):
        color = colors[index % len(colors)]
        axis.plot(rates, scores, "-o", color=color, ms=4, label=optimizer)
        if chosen is not None and chosen in rates:
            score = scores[list(rates).index(chosen)]
            axis.plot([chosen], [score], "*", color=color, ms=14, markeredgecolor="black")
    axis.set(xscale="log", xlabel="learning rate", ylabel=metric)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    axis.set_title(title or f"learning-rate search ({metric} at the end of each trial; ★ chosen)")
    save(figure, path)
    return figure
