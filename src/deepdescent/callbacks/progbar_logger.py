"""ProgbarLogger: Keras's progress bar, written to a text stream.

::

    Epoch 1/10
    422/422 ━━━━━━━━━━━━━━━━━━━━ 1s 2ms/step - accuracy: 0.6512 - loss: 1.1200 - val_loss: 0.8

``verbose=1`` redraws the bar in place (``\\r``) on a terminal, at most every 0.05 s, and
writes only the finished line of each epoch to anything else (a file, a pipe, a notebook
capture); ``verbose=2`` writes one summary line per epoch. The batch logs are read only
when a line is drawn, so the bar costs no host-device synchronisation between redraws.

Warning:
    Keras's bar averages each batch value over the steps it has seen; here the values
    are shown as given, because deepdescent's batch logs already are the epoch's running
    means (averaging them again would need every step's value, a sync per step).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs

__all__ = ["ProgbarLogger"]

_clock = time.perf_counter
_BOLD, _GREEN, _GREY, _RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"
# Counts that matter only when they are not zero (fit's skipped non-finite steps).
_SHOWN_WHEN_NOT_ZERO = ("skipped_steps",)


def _format_value(value: float) -> str:
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_step_time(seconds: float, unit: str) -> str:
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{seconds // 3600:.0f}:{(seconds % 3600) // 60:02.0f}:{seconds % 60:02.0f}"
    if seconds > 60:
        return f"{seconds // 60:.0f}:{seconds % 60:02.0f}"
    return f"{seconds:.0f}s"


def _format_logs(logs: Mapping[str, float] | None) -> str:
    logs = logs or {}
    shown = [name for name in sorted(logs) if name not in _SHOWN_WHEN_NOT_ZERO or logs[name]]
    return "".join(f" - {name}: {_format_value(logs[name])}" for name in shown)


class _Progbar:
    """One bar: ``update(current, logs)`` per step, ``finalize=True`` for the last line."""

    def __init__(
        self,
        target: int | None,
        verbose: int,
        stream: TextIO,
        interval: float = 0.05,
        width: int = 20,
        unit_name: str = "step",
    ) -> None:
        self.target, self.verbose, self.stream = target, verbose, stream
        self.interval, self.width, self.unit_name = interval, width, unit_name
        isatty = getattr(stream, "isatty", None)
        self._dynamic = bool(isatty and isatty())
        self._start = _clock()
        self._after_first_step: float | None = None
        self._last_draw = -math.inf
        self._drawn_width = 0

    def _step_time(self, current: int, now: float) -> float:
        """Seconds per step, leaving out the (compilation-heavy) first step when possible."""
        if current <= 0:
            return 0.0
        if self._after_first_step is not None and current > 1:
            per_step = (now - self._after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1:
            self._after_first_step = now
        return per_step

    def update(
        self, current: int, logs: Mapping[str, float] | None, finalize: bool = False
    ) -> None:
        now = _clock()
        per_step = self._step_time(current, now)
        if self.verbose == 2 and finalize:
            self._write_summary(current, logs, now, per_step)
        elif self.verbose == 1 and (
            finalize or (self._dynamic and now - self._last_draw >= self.interval)
        ):
            self._write_bar(current, logs, now, per_step, finalize)
            self._last_draw = now

    def _paint(self, text: str, style: str) -> str:
        return f"{style}{text}{_RESET}" if self._dynamic else text

    def _count(self, current: int) -> str:
        if not self.target:
            return f"{current:7d}/Unknown"
        digits = int(math.log10(self.target)) + 1
        return f"{current:{digits}d}/{self.target}"

    def _write_bar(
        self,
        current: int,
        logs: Mapping[str, float] | None,
        now: float,
        per_step: float,
        finalize: bool,
    ) -> None:
        parts = [self._paint(self._count(current), _BOLD)]
        plain = [self._count(current)]
        if self.target:
            done = min(self.width, int(self.width * current / self.target))
            bar = self._paint("━" * done, _GREEN) if done else ""
            bar += self._paint("━" * (self.width - done), _GREY) if done < self.width else ""
            parts.append(bar)
            plain.append("━" * self.width)
        if self.target and not finalize:
            clock = _format_eta(per_step * (self.target - current))
        else:
            clock = f"{now - self._start:.0f}s"
        tail = f"{_format_step_time(per_step, self.unit_name)}{_format_logs(logs)}"
        parts += [self._paint(clock, _BOLD), tail]
        plain += [clock, tail]
        width = len(" ".join(plain))
        line = " ".join(parts) + " " * max(0, self._drawn_width - width)
        self._drawn_width = width
        if self._dynamic:
            line = "\r" + line
        self.stream.write(line + ("\n" if finalize else ""))
        self.stream.flush()

    def _write_summary(
        self, current: int, logs: Mapping[str, float] | None, now: float, per_step: float
    ) -> None:
        if not self.target:
            return
        self.stream.write(
            f"{self._count(current)} - {now - self._start:.0f}s - "
            f"{_format_step_time(per_step, self.unit_name)}{_format_logs(logs)}\n"
        )
        self.stream.flush()


class ProgbarLogger(Callback):
    """Keras's progress bar for ``fit``, ``evaluate`` and ``predict``.

    Reads ``verbose`` (0 silent, 1 bar, 2 one line per epoch), ``epochs`` and ``steps``
    (steps per epoch; ``None`` if unknown) from the run's params. Inside ``fit`` the
    validation pass is silent; its ``val_`` metrics show on the epoch's line.

    Args:
        stream: where to write (default: standard output at the time of writing).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream
        self.verbose: int = 1
        self.epochs: int = 1
        self.target: int | None = None
        self._bar: _Progbar | None = None
        self._seen = 0
        self._in_fit = False

    def set_params(self, params: Mapping[str, Any]) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = int(params.get("epochs") or 1)
        self.target = params.get("steps")

    def _start(self) -> _Progbar:
        self._seen = 0
        stream = sys.stdout if self.stream is None else self.stream
        self._bar = _Progbar(self.target, self.verbose, stream)
        return self._bar

    def _update(self, batch: int, logs: Logs | None) -> None:
        bar = self._bar or self._start()
        self._seen = batch + 1
        if self.verbose:
            bar.update(self._seen, logs)

    def _finish(self, logs: Logs | None) -> None:
        bar = self._bar or self._start()
        if bar.target is None:
            bar.target = self._seen
        if self.verbose:
            bar.update(bar.target, logs, finalize=True)
        self._bar = None

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self._seen}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._seen = int(state["seen"])

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._in_fit = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._in_fit = False

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._start()
        if self.verbose and self.epochs > 1:
            stream = sys.stdout if self.stream is None else self.stream
            stream.write(f"Epoch {epoch + 1}/{self.epochs}\n")
            stream.flush()

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._update(batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._finish(logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        if not self._in_fit:
            self._start()

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._start()

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._update(batch, None)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._finish(None)
