"""The callback base class, the list that dispatches to callbacks, and lazy batch logs.

A callback hooks into ``fit``, ``evaluate`` and ``predict`` (Keras's hooks and order).
Batch logs are a :class:`LazyLogs` mapping: a value is computed (which synchronises
with the device) only when a callback reads it, so a callback that does not need the
batch's numbers costs nothing per step. :class:`CallbackList` also skips callbacks that
leave a batch hook as the base's no-op.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TextIO

__all__ = ["Callback", "CallbackList", "LazyLogs"]

Logs = Mapping[str, float]

_MODES = ("auto", "min", "max")
# Names whose larger value is better / smaller value is better, for mode="auto".
_MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "iou", "r2")
_MINIMIZED = ("loss", "error", "crossentropy", "hinge", "divergence", "cosh", "poisson")
_MINIMIZED_ABBREVIATIONS = ("mse", "mae", "mape", "msle", "rmse")


class LazyLogs(Mapping[str, float]):
    """A read-only mapping whose values are computed on first read, then cached.

    Built from ``{name: zero-argument callable returning a float}``. Listing the keys,
    ``len`` and ``in`` never call anything; ``logs[name]``, ``get``, ``items`` and
    ``values`` call (once) the callables of the names they read.
    """

    __slots__ = ("_cache", "_getters")

    def __init__(self, getters: Mapping[str, Callable[[], float]]) -> None:
        self._getters = dict(getters)
        self._cache: dict[str, float] = {}

    def __getitem__(self, name: str) -> float:
        if name not in self._cache:
            self._cache[name] = float(self._getters[name]())
        return self._cache[name]

    def __contains__(self, name: object) -> bool:
        return name in self._getters

    def __iter__(self) -> Iterator[str]:
        return iter(self._getters)

    def __len__(self) -> int:
        return len(self._getters)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k!r}: {self._cache.get(k, '<not read>')}" for k in self._getters)
        return f"LazyLogs({{{shown}}})"


def _emit(stream: TextIO | None, message: str) -> None:
    """Write one line of a verbose callback's message to ``stream`` (``None``: stdout)."""
    out = sys.stdout if stream is None else stream
    out.write(message + "\n")
    out.flush()


def _check_argument(name: str, value: Any, ok: bool, rule: str) -> None:
    """Raise ``ValueError`` naming the argument, the value received and the rule."""
    if not ok:
        raise ValueError(f"Invalid {name}: {value!r} (expected {rule})")


def _check_count(name: str, value: Any) -> None:
    """``value`` must be an int >= 0 (patience, cooldown, epochs)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    _check_argument(name, value, ok, "an int >= 0")


def _check_non_negative(name: str, value: Any) -> None:
    """``value`` must be a finite number >= 0."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    _check_argument(name, value, ok and math.isfinite(value) and value >= 0, "a number >= 0")


def _check_mode(mode: Any) -> None:
    """``mode`` must be ``"auto"``, ``"min"`` or ``"max"``."""
    _check_argument("mode", mode, mode in _MODES, f"one of {', '.join(_MODES)}")


def _infer_mode(monitor: str) -> str | None:
    """``"min"`` or ``"max"`` for a metric name (``val_`` prefix ignored), ``None`` if unknown."""
    name = monitor.lower().removeprefix("val_")
    if any(word in name for word in _MINIMIZED) or name in _MINIMIZED_ABBREVIATIONS:
        return "min"
    if any(word in name for word in _MAXIMIZED):
        return "max"
    return None


class _Monitor:
    """The "has the monitored quantity improved?" logic of Keras's monitoring callbacks.

    ``mode="auto"`` is decided from the name at construction: losses and errors are
    minimized, accuracies, AUC, precision and recall maximized; any other name needs an
    explicit ``mode``. An improvement is a decrease (increase for ``"max"``) by more than
    ``min_delta``.
    """

    def __init__(self, owner: str, monitor: str, mode: str, min_delta: float) -> None:
        _check_argument("monitor", monitor, isinstance(monitor, str) and bool(monitor), "a name")
        _check_mode(mode)
        _check_non_negative("min_delta", min_delta)
        if mode == "auto":
            mode = _infer_mode(monitor) or ""
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


class Callback:
    """Base class of callbacks: every hook is a no-op to override.

    Attributes:
        model: the model being trained (set by :meth:`set_model`).
        params: the run's parameters (``epochs``, ``steps``, ``verbose``), set by
            :meth:`set_params`.
    """

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self._model: Any = None

    def set_params(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def model(self) -> Any:
        return self._model

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Keras's older name of :meth:`on_train_batch_begin`, which calls it."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Keras's older name of :meth:`on_train_batch_end`, which calls it."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Start of training epoch ``epoch`` (counted from 0)."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """End of an epoch; ``logs`` holds the epoch's metrics and ``val_`` metrics."""

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Start of training batch ``batch`` (counted from 0 in each epoch)."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """End of a training batch; ``logs`` (lazy) are the epoch's running metrics."""
        self.on_batch_end(batch, logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Start of an ``evaluate`` (or validation) batch."""

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """End of an ``evaluate`` (or validation) batch; ``logs`` are lazy running metrics."""

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Start of a ``predict`` batch."""

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """End of a ``predict`` batch."""

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Start of ``fit``."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """End of ``fit``; ``logs`` are the last epoch's."""

    def on_test_begin(self, logs: Logs | None = None) -> None:
        """Start of ``evaluate`` or of a validation pass."""

    def on_test_end(self, logs: Logs | None = None) -> None:
        """End of ``evaluate`` or of a validation pass; ``logs`` are its metrics."""

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        """Start of ``predict``."""

    def on_predict_end(self, logs: Logs | None = None) -> None:
        """End of ``predict``."""


_BATCH_HOOKS = {
    "on_train_batch_begin": ("on_train_batch_begin", "on_batch_begin"),
    "on_train_batch_end": ("on_train_batch_end", "on_batch_end"),
    "on_test_batch_begin": ("on_test_batch_begin",),
    "on_test_batch_end": ("on_test_batch_end",),
    "on_predict_batch_begin": ("on_predict_batch_begin",),
    "on_predict_batch_end": ("on_predict_batch_end",),
}


def _overrides(callback: Callback, names: Iterable[str]) -> bool:
    return any(getattr(type(callback), name) is not getattr(Callback, name) for name in names)


class CallbackList(Callback):
    """Calls every hook on each callback of a list, in order.

    Like Keras, a :class:`~deepdescent.callbacks.History` is appended unless one is in
    the list, then a :class:`~deepdescent.callbacks.ProgbarLogger` when ``add_progbar``
    (by default: when ``params["verbose"]`` is not 0, decided when the params arrive).
    ``model.history`` is set to the History. Batch hooks are dispatched only to the
    callbacks that override them.

    Args:
        callbacks: callbacks, in calling order.
        add_history: append a History if there is none.
        add_progbar: append a ProgbarLogger if there is none; ``None`` decides from verbose.
        model: the model; also settable with :meth:`set_model`.
        **params: run parameters, passed on with :meth:`set_params`.
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | None = None,
        add_history: bool = True,
        add_progbar: bool | None = None,
        model: Any = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.callbacks: list[Callback] = []
        for index, callback in enumerate(callbacks or []):
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"Invalid callbacks[{index}]: {callback!r} (expected a Callback instance)"
                )
            self.callbacks.append(callback)
        if add_history and self.history is None:
            from deepdescent.callbacks.history import History  # history imports this module

            self.callbacks.append(History())
        self._refresh()
        self._add_progbar = add_progbar
        self._maybe_add_progbar()
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    @property
    def history(self) -> Callback | None:
        """The list's History callback, if any."""
        from deepdescent.callbacks.history import History

        return next((cb for cb in self.callbacks if isinstance(cb, History)), None)

    def append(self, callback: Callback) -> None:
        """Add a callback at the end of the list."""
        if not isinstance(callback, Callback):
            raise TypeError(f"Invalid callback: {callback!r} (expected a Callback instance)")
        self.callbacks.append(callback)
        if self.model is not None:
            callback.set_model(self.model)
        if self.params:
            callback.set_params(self.params)
        self._refresh()

    def _refresh(self) -> None:
        self._batch_callbacks = {
            hook: [cb for cb in self.callbacks if _overrides(cb, names)]
            for hook, names in _BATCH_HOOKS.items()
        }

    def _maybe_add_progbar(self) -> None:
        from deepdescent.callbacks.progbar_logger import ProgbarLogger  # imports this module

        wanted = self._add_progbar
        if wanted is None:
            wanted = self.params.get("verbose", 0) != 0
        if wanted and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self.append(ProgbarLogger())

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        history = self.history
        if history is not None and model is not None:
            model.history = history
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params: Mapping[str, Any]) -> None:
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(self.params)
        self._maybe_add_progbar()

    def listens(self, hook: str) -> bool:
        """Whether any callback overrides the batch hook ``hook``; when none does, the
        trainer need not build batch logs at all."""
        return bool(self._batch_callbacks[hook])

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def _call_batch(self, hook: str, batch: int, logs: Logs | None) -> None:
        for callback in self._batch_callbacks[hook]:
            getattr(callback, hook)(batch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call_batch("on_train_batch_begin", batch, logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call_batch("on_train_batch_end", batch, logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call_batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call_batch("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call_batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call_batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call_batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call_batch("on_predict_batch_end", batch, logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs if logs is not None else {})

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._call("on_epoch_end", epoch, logs if logs is not None else {})

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._call("on_train_begin", logs if logs is not None else {})

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._call("on_train_end", logs if logs is not None else {})

    def on_test_begin(self, logs: Logs | None = None) -> None:
        self._call("on_test_begin", logs if logs is not None else {})

    def on_test_end(self, logs: Logs | None = None) -> None:
        self._call("on_test_end", logs if logs is not None else {})

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._call("on_predict_begin", logs if logs is not None else {})

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._call("on_predict_end", logs if logs is not None else {})

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)
