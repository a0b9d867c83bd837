"""The list that dispatches every hook to a run's callbacks.

Batch logs are :class:`~deepdescent.callbacks.logs.LazyLogs`: a value is computed (which
synchronises with the device) only when a callback reads it, so a callback that does not
need the batch's numbers costs nothing per step. :class:`CallbackList` also skips callbacks
that leave a batch hook as the base's no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.history import History
from deepdescent.callbacks.logs import Logs
from deepdescent.callbacks.progbar_logger import ProgbarLogger
from deepdescent.optimizers.contract import Progress

__all__ = ["CallbackList"]

_BATCH_HOOKS = {
    "on_train_batch_begin": ("on_train_batch_begin", "on_batch_begin"),
    "on_train_batch_end": ("on_train_batch_end", "on_batch_end"),
    "on_test_batch_begin": ("on_test_batch_begin",),
    "on_test_batch_end": ("on_test_batch_end",),
    "on_predict_batch_begin": ("on_predict_batch_begin",),
    "on_predict_batch_end": ("on_predict_batch_end",),
    "on_train_batch_progress": ("on_train_batch_progress",),
}


def _overrides(callback: Callback, names: Iterable[str]) -> bool:
    """Whether the callback defines one of the hooks ``names``, in its class or (as
    ``LambdaCallback`` does) on the instance."""
    return any(
        name in vars(callback) or getattr(type(callback), name) is not getattr(Callback, name)
        for name in names
    )


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

    def _state_keys(self) -> list[str]:
        """``"ClassName:k"`` for the k-th callback of each class: a backup's states find
        their callbacks again even when the list gained or lost a progress bar."""
        seen: dict[str, int] = {}
        keys = []
        for callback in self.callbacks:
            name = type(callback).__name__
            keys.append(f"{name}:{seen.get(name, 0)}")
            seen[name] = seen.get(name, 0) + 1
        return keys

    def state_dict(self) -> dict[str, Any]:
        """Every callback's non-empty :meth:`~Callback.state_dict`, by class and rank."""
        keys = self._state_keys()
        states = {key: cb.state_dict() for key, cb in zip(keys, self.callbacks, strict=True)}
        return {key: state for key, state in states.items() if state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Hand each callback its state from :meth:`state_dict` (those without one keep
        theirs)."""
        for key, callback in zip(self._state_keys(), self.callbacks, strict=True):
            if key in state:
                callback.load_state_dict(state[key])

    def listens(self, hook: str) -> bool:
        """Whether any callback overrides the batch hook ``hook``; when none does, the
        trainer need not build batch logs at all."""
        return bool(self._batch_callbacks[hook])

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def _call_batch(self, hook: str, batch: int, logs: Logs | None) -> None:
        # Keras hands every hook a dict: an empty one where there is nothing to report.
        for callback in self._batch_callbacks[hook]:
            getattr(callback, hook)(batch, logs if logs is not None else {})

    def on_train_batch_progress(self, batch: int, done: int, total: int, unit: str) -> None:
        for callback in self._batch_callbacks["on_train_batch_progress"]:
            callback.on_train_batch_progress(batch, done, total, unit)

    def progress_of(self, batch: int) -> Progress:
        """The :data:`~deepdescent.optimizers.contract.Progress` callable of training
        batch ``batch``: what an optimizer reports goes to
        :meth:`on_train_batch_progress`."""
        return lambda done, total, unit: self.on_train_batch_progress(batch, done, total, unit)

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
