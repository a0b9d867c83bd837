"""Figures made with matplotlib's Agg backend (imported only when a figure is drawn) and
saved atomically as PNG."""

from __future__ import annotations

import os
from typing import Any

from deepdescent.utils.io import atomic_path


def subplots(
    columns: int = 1, rows: int = 1, size: tuple[float, float] = (5.0, 4.0)
) -> tuple[Any, Any]:
    """A figure of ``rows`` × ``columns`` panels of ``size`` inches each; axes as a 2-D array.

    The figure has an Agg canvas of its own and never goes through pyplot, so the caller's
    matplotlib backend and open figures are left as they were.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size[0] * columns, size[1] * rows))
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=False)


def save(figure: Any, path: str | os.PathLike[str], title: str | None = None) -> None:
    """Write ``figure`` to ``path`` as a PNG (no half-written file)."""
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
