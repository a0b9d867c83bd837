"""Learning curves: the PNG (read back with Pillow) has one 500×400 panel per quantity,
loss first, with the training and validation values per epoch; it is written atomically
and leaves matplotlib's backend and pyplot's figures alone."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest
from matplotlib.figure import Figure
from PIL import Image

from deepdescent.viz import plot_history

HISTORY = {
    "accuracy": [0.5, 0.7, 0.8],
    "loss": [1.2, 0.8, 0.6],
    "val_loss": [1.3, 0.9, 0.8],
    "val_accuracy": [0.45, 0.65, 0.7],
    "learning_rate": [0.1, 0.1, 0.05],
}


@pytest.fixture
def drawn(monkeypatch):
    """Each figure saved, as (panel y-label, [(x, y) of each line]) per panel."""
    figures = []
    save = Figure.savefig

    def record(self, *args, **kwargs):
        figures.append(
            [
                (
                    axis.get_ylabel(),
                    [(list(line.get_xdata()), list(line.get_ydata())) for line in axis.lines],
                )
                for axis in self.axes
            ]
        )
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figures


@pytest.mark.parametrize(
    ("history", "panels"),
    [(HISTORY, 2), ({"loss": [1.0, 0.5]}, 1), ({"loss": [1.0], "mae": [2.0], "mse": [3.0]}, 3)],
)
def test_a_png_of_500_by_400_pixels_per_panel(tmp_path: Path, history, panels):
    path = tmp_path / "curves.png"
    plot_history(history, path, title="run")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (500 * panels, 400)
    assert os.listdir(tmp_path) == ["curves.png"]


def test_panels_are_loss_first_with_training_and_validation_per_epoch(tmp_path: Path, drawn):
    plot_history(HISTORY, tmp_path / "curves.png")
    ((loss, accuracy),) = drawn
    epochs = [1, 2, 3]
    assert loss == ("loss", [(epochs, HISTORY["loss"]), (epochs, HISTORY["val_loss"])])
    assert accuracy == (
        "accuracy",
        [(epochs, HISTORY["accuracy"]), (epochs, HISTORY["val_accuracy"])],
    )


def test_a_failed_write_leaves_the_previous_file_intact_and_no_partial_file(
    tmp_path: Path, monkeypatch
):
    path = tmp_path / "curves.png"
    path.write_bytes(b"the previous picture")

    def broken(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        plot_history(HISTORY, path)
    assert path.read_bytes() == b"the previous picture"
    assert os.listdir(tmp_path) == ["curves.png"]


def test_the_backend_and_pyplots_figures_are_left_alone(tmp_path: Path):
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        open_figures = plt.get_fignums()
        plot_history(HISTORY, tmp_path / "curves.png")
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == open_figures
    finally:
        matplotlib.use(before)


@pytest.mark.parametrize("history", [{}, {"val_loss": [1.0]}, {"learning_rate": [0.1]}])
def test_nothing_to_plot_is_an_error(tmp_path: Path, history):
    with pytest.raises(ValueError, match="history has nothing to plot"):
        plot_history(history, tmp_path / "curves.png")
    assert os.listdir(tmp_path) == []
