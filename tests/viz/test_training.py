"""The diagnostics' generic figure: one panel per measured quantity against the step, four
panels to a row, read back from the saved figure's lines and the PNG's size."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure
from PIL import Image

from deepdescent.viz import plot_measurements


def test_one_panel_per_quantity_against_the_step(tmp_path: Path, monkeypatch):
    panels = []
    save = Figure.savefig

    def record(self, *args, **kwargs):
        panels.extend(
            (axis.get_ylabel(), [(list(x.get_xdata()), list(x.get_ydata())) for x in axis.lines])
            for axis in self.axes
            if axis.get_visible()
        )
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    history = {"step": [1, 3], "epoch": [0, 1], **{f"q{i}": [i, i + 1.0] for i in range(5)}}
    plot_measurements(history, tmp_path / "m.png")
    assert panels == [(f"q{i}", [([1, 3], [i, i + 1.0])]) for i in range(5)]
    with Image.open(tmp_path / "m.png") as image:
        assert image.size == (4 * 500, 2 * 400)  # five panels: two rows of four


def test_nothing_measured_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="no measurements"):
        plot_measurements({"step": [], "epoch": []}, tmp_path / "m.png")
