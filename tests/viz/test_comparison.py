"""The comparison plots: each line is the mean over seeds of what was recorded, the band
runs from the least to the greatest seed, a seed that stopped early leaves the epochs it
did not reach, and the PNG written opens."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from deepdescent.viz import plot_curves, plot_search

SEEDS = [
    {"epoch": [0, 1, 2], "time": [0, 1, 2], "loss": [2, 1.0, 0.5], "val_loss": [2.1, 1.2, 0.7]},
    {"epoch": [0, 1, 2], "time": [0, 3, 4], "loss": [2, 0.6, 0.3], "val_loss": [2.1, 0.9, 0.5]},
    {"epoch": [0, 1], "time": [0, 2], "loss": [2, math.inf], "val_loss": [2.1, math.nan]},
]


def _band(axis):
    """The x of the band of the first line of ``axis``, and its lower and upper edges."""
    vertices = axis.collections[0].get_paths()[0].vertices
    x = np.unique(vertices[:, 0])
    edges = [vertices[vertices[:, 0] == value, 1] for value in x]
    return x, [e.min() for e in edges], [e.max() for e in edges]


def test_each_line_is_the_mean_over_seeds_with_a_band_from_least_to_greatest(tmp_path):
    figure = plot_curves({"sgd": SEEDS, "adam": SEEDS[:1]}, tmp_path / "epoch.png")
    loss, val_loss = figure.axes
    assert [a.get_title() for a in figure.axes] == ["training loss", "validation loss"]
    line = loss.lines[0]
    np.testing.assert_allclose(line.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(line.get_ydata(), [2.0, np.mean([1.0, 0.6]), np.mean([0.5, 0.3])])
    x, lower, upper = _band(loss)
    np.testing.assert_allclose(x, [0, 1, 2])
    np.testing.assert_allclose(lower, [2.0, 0.6, 0.3])
    np.testing.assert_allclose(upper, [2.0, 1.0, 0.5])
    assert loss.get_yscale() == "log"
    assert [line.get_label() for line in loss.lines] == ["sgd", "adam"]
    assert len(val_loss.collections) == 1, "one seed: no band"
    with Image.open(tmp_path / "epoch.png") as image:
        assert image.format == "PNG" and image.size == (1040, 380)


def test_against_time_an_epoch_sits_at_the_seeds_mean_time(tmp_path):
    figure = plot_curves({"sgd": SEEDS}, tmp_path / "time.png", against="time")
    np.testing.assert_allclose(figure.axes[0].lines[0].get_xdata(), [0.0, 2.0, 3.0])
    assert figure.axes[0].get_xlabel() == "training time (s)"


def test_losses_below_zero_are_drawn_on_a_linear_scale_and_accuracy_gets_panels(tmp_path):
    seeds = [{"epoch": [0, 1], "loss": [0, -3], "accuracy": [0.1, 0.5], "val_accuracy": [0, 0.4]}]
    figure = plot_curves({"adam": seeds}, tmp_path / "curves.png")
    assert [a.get_title() for a in figure.axes] == [
        "training loss",
        "training accuracy",
        "validation accuracy",
    ]
    assert figure.axes[0].get_yscale() == "linear"


def test_the_search_plot_stars_the_rate_chosen(tmp_path):
    trials = {"sgd": ([0.01, 0.1, 1.0], [0.5, 0.8, math.nan], 0.1), "adam": ([1e-3], [0.7], None)}
    figure = plot_search(trials, "val_accuracy", tmp_path / "search.png")
    (axis,) = figure.axes
    assert axis.get_xscale() == "log"
    _, star, adam = axis.lines
    np.testing.assert_allclose(star.get_xydata(), [[0.1, 0.8]])
    assert star.get_marker() == "*" and adam.get_label() == "adam"
    with Image.open(tmp_path / "search.png") as image:
        assert image.format == "PNG"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: plot_curves({}, p), "at least one optimizer"),
        (lambda p: plot_curves({"sgd": [{"epoch": [0]}]}, p), "none of"),
        (lambda p: plot_curves({"sgd": SEEDS}, p, against="step"), "Invalid against: 'step'"),
        (lambda p: plot_search({}, "val_loss", p), "at least one optimizer"),
    ],
)
def test_nothing_to_plot_is_an_error(tmp_path, call, message):
    with pytest.raises(ValueError, match=message):
        call(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
