"""History: the per-epoch logs of ``fit``, which ``fit`` returns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs

__all__ = ["History"]


class History(Callback):
    """Records every epoch's logs; added to every ``fit`` and returned by it.

    Attributes:
        history: metric name → one float per epoch (``"loss"``, ``"val_loss"``, ...).
        epoch: the indices of the recorded epochs (from 0).

    Like Keras, ``history`` keeps growing across several ``fit`` calls with the same
    callback, while ``epoch`` restarts at each ``fit``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        recorded = max((len(values) for values in self.history.values()), default=0)
        for name, value in (logs or {}).items():
            if name == "skipped_steps" and name not in self.history:
                # fit counts skipped steps from the first one on: none before it.
                self.history[name] = [0.0] * recorded
            self.history.setdefault(name, []).append(float(value))
        if self.model is not None:
            self.model.history = self

    def state_dict(self) -> dict[str, Any]:
        return {"history": {k: list(v) for k, v in self.history.items()}, "epoch": list(self.epoch)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = {k: [float(v) for v in values] for k, values in state["history"].items()}
        self.epoch = [int(e) for e in state["epoch"]]
