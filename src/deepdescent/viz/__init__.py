"""Pictures of optimization: learning curves (matplotlib, imported only when used)."""

from __future__ import annotations

from deepdescent.viz.curves import plot_history

__all__ = ["plot_history"]
