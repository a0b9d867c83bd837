"""The "has the monitored quantity improved?" logic shared by EarlyStopping,
ReduceLROnPlateau and ModelCheckpoint."""

from __future__ import annotations

import math
import warnings
from typing import Any

from deepdescent.callbacks.logs import Logs
from deepdescent.utils._checks import check_argument, check_non_negative

__all__ = ["Monitor", "check_mode", "infer_mode"]

_MODES = ("auto", "min", "max")
# Names whose larger value is better / smaller value is better, for mode="auto".
_MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "iou", "r2")
_MINIMIZED = ("loss", "error", "crossentropy", "hinge", "divergence", "cosh", "poisson")
_MINIMIZED_ABBREVIATIONS = ("mse", "mae", "mape", "msle", "rmse")


def check_mode(mode: Any) -> None:
    """``mode`` must be ``"auto"``, ``"min"`` or ``"max"``."""
    check_argument("mode", mode, mode in _MODES, f"one of {', '.join(_MODES)}")


def infer_mode(monitor: str) -> str | None:
    """``"min"`` or ``"max"`` for a metric name (``val_`` prefix ignored), ``None`` if unknown."""
    name = monitor.lower().removeprefix("val_")
    if any(word in name for word in _MINIMIZED) or name in _MINIMIZED_ABBREVIATIONS:
        return "min"
    if any(word in name for word in _MAXIMIZED):
        return "max"
    return None


class Monitor:
    """The "has the monitored quantity improved?" logic of Keras's monitoring callbacks.

    ``mode="auto"`` is decided from the name at construction: losses and errors are
    minimized, accuracies, AUC, precision and recall maximized; any other name needs an
    explicit ``mode``. An improvement is a decrease (increase for ``"max"``) by more than
    ``min_delta``.
    """

    def __init__(self, owner: str, monitor: str, mode: str, min_delta: float) -> None:
        check_argument("monitor", monitor, isinstance(monitor, str) and bool(monitor), "a name")
        check_mode(mode)
        check_non_negative("min_delta", min_delta)
        if mode == "auto":
            mode = infer_mode(monitor) or ""
            if not mode:
                raise ValueError(
                    f"{owner} cannot tell whether monitor={monitor!r} should be minimized or "
                    "maximized; pass mode='min' or mode='max'"
                )
        self.owner, self.monitor, self.mode, self.min_delta = owner, monitor, mode, min_delta

    @property
    def worst(self) -> float:
        """The value every first reading improves on: +inf when minimizing, -inf maximizing."""
        return math.inf if self.mode == "min" else -math.inf

    def improved(self, current: float, reference: float) -> bool:
        """Whether ``current`` beats ``reference`` by more than ``min_delta``."""
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def read(self, logs: Logs | None) -> float | None:
        """The monitored value in ``logs``, or ``None`` with a warning listing what there is."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is not None:
            return float(value)
        warnings.warn(
            f"{self.owner} is conditioned on metric `{self.monitor}` which is not available. "
            f"Available metrics are: {','.join(logs)}",
            stacklevel=3,
        )
        return None
