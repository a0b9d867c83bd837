"""The callback base class: every hook of ``fit``, ``evaluate`` and ``predict`` (Keras's
hooks and order) as a no-op to override."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepdescent.callbacks.logs import Logs

__all__ = ["Callback"]


class Callback:
    """Base class of callbacks: every hook is a no-op to override.

    Attributes:
        model: the model being trained (set by :meth:`set_model`).
        needs_autograd: whether the callback reads what only autograd's backward pass
            provides (module hooks, a graph); then ``fit`` does not take its hand-written
            back-propagation fast path. ``False`` here.
        params: the run's parameters (``epochs``, ``steps``, ``verbose``), set by
            :meth:`set_params`.
    """

    needs_autograd: bool = False

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

    def state_dict(self) -> dict[str, Any]:
        """What this callback keeps from one step or epoch to the next, as a state tree
        (numbers, strings, tensors, NumPy arrays in dicts and lists), so that
        :class:`~deepdescent.callbacks.BackupAndRestore` can resume a run exactly.
        ``{}`` here: a callback that keeps state overrides it and :meth:`load_state_dict`.
        """
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned. A resumed ``fit`` calls it after
        ``on_train_begin``, so it replaces whatever that hook reset."""

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
