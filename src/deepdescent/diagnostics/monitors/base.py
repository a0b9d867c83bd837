"""The base of the diagnostics' monitors: a callback that measures at an interval.

A monitor measures every ``interval`` training steps (``unit="batch"``, counted over the
whole run, the first measurement after the first step) or every ``interval`` epochs
(``unit="epoch"``, at the epoch's end, the first after epoch 0). Every measurement is kept
in :attr:`DiagnosticMonitor.history` (name → list, with the ``step`` and ``epoch`` it was
made at), and at each epoch's end the latest one is written into the epoch's logs, so
``History`` (and any callback after it: ``CSVLogger``, TensorBoard) records it once per
epoch. Monitors that compute curvature, noise or activations do so on a fixed probe batch
of their own with their own forward and backward passes (``fit``'s hand-written
back-propagation builds no graph), with the model in evaluation mode, without touching
``.grad`` or the global random generators, so training runs exactly as it would without
them.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs
from deepdescent.diagnostics._objective import LossArgument, Objective, resolve
from deepdescent.utils._checks import check_argument, check_count

__all__ = ["DiagnosticMonitor", "ProbeMonitor"]

UNITS = ("batch", "epoch")


class DiagnosticMonitor(Callback):
    """Measures :meth:`measure` at an interval during ``fit`` (see the module).

    Args:
        interval: steps or epochs between measurements, >= 1.
        unit: ``"batch"`` (training steps) or ``"epoch"``.

    Attributes:
        history: ``"step"``, ``"epoch"`` and each measured name → one value per measurement.
        latest: the last measurement (name → value).
    """

    def __init__(self, interval: int, unit: str) -> None:
        super().__init__()
        self.interval = check_count("interval", interval)
        check_argument("unit", unit, unit in UNITS, "'batch' or 'epoch'")
        self.unit = unit
        self.history: dict[str, list[float]] = {}
        self.latest: dict[str, float] = {}
        self.steps = 0
        self.epoch = 0

    def measure(self) -> dict[str, float]:
        """The quantities at the current parameters; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement measure()")

    def start(self) -> None:
        """Called at the start of training, once the model is known."""

    @property
    def measured(self) -> bool:
        """Whether a measurement has been made (so :meth:`draw` has something to draw)."""
        return bool(self.history)

    def draw(self, path: str | os.PathLike[str]) -> None:
        """A PNG of the measurements so far: each quantity against the training step."""
        from deepdescent.viz import plot_measurements

        plot_measurements(self.history, path, title=type(self).__name__)

    def record(self) -> None:
        """Measure now and keep the values."""
        values = self.measure()
        for name, value in {
            "step": float(self.steps),
            "epoch": float(self.epoch),
            **values,
        }.items():
            self.history.setdefault(name, []).append(float(value))
        self.latest = values

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.history, self.latest, self.steps = {}, {}, 0
        self.start()

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.steps += 1
        if self.unit == "batch" and (self.steps - 1) % self.interval == 0:
            self.record()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.unit == "epoch" and epoch % self.interval == 0:
            self.record()
        if isinstance(logs, MutableMapping):
            logs.update(self.latest)


class ProbeMonitor(DiagnosticMonitor):
    """A monitor that measures the cost J on a fixed probe batch ``(x, y)``.

    Args:
        x, y: the probe batch (moved to the model's device once, at the start of training).
        loss_fn: the loss (default: the model's compiled loss, as ``fit`` uses it).
        interval, unit: see :class:`DiagnosticMonitor`.
    """

    def __init__(self, x: Any, y: Any, loss_fn: LossArgument, interval: int, unit: str) -> None:
        super().__init__(interval, unit)
        self.x, self.y, self.loss_fn = x, y, loss_fn
        self.objective: Objective | None = None

    def start(self) -> None:
        self.objective = resolve(self.model, self.loss_fn, self.x, self.y)

    @property
    def probe(self) -> Objective:
        if self.objective is None:
            raise RuntimeError(
                f"{type(self).__name__} measures only during fit (after on_train_begin)"
            )
        return self.objective
