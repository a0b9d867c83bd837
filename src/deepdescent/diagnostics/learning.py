r"""Learning versus pure optimization (Goodfellow et al. §8.1).

Training minimizes a surrogate — the average loss on the training set — for a quantity
it cannot optimize directly: the expected 0-1 loss on new data. So the diagnostics put
side by side the surrogate and the 0-1 loss, on the training set and on held-out data:

* the **surrogate can keep falling after the training 0-1 loss has stopped** (§8.1.2:
  the log-likelihood keeps pushing classes apart even at zero training error);
* the **generalization gap** (validation minus training) opens while the training cost
  still falls: what optimization reduces is not what generalizes;
* **early stopping** (§7.8) halts on the validation quantity, at an epoch where the
  training gradient is far from zero — not at a critical point of the surrogate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch

from deepdescent import metrics
from deepdescent.callbacks import EarlyStopping
from deepdescent.diagnostics._objective import LossArgument, resolve
from deepdescent.utils._checks import check_argument, check_count

__all__ = ["Generalization", "generalization", "learning_summary"]


@dataclass
class Generalization:
    """The surrogate cost and the 0-1 loss on training and held-out data."""

    train_loss: float
    train_zero_one_loss: float
    validation_loss: float
    validation_zero_one_loss: float

    @property
    def loss_gap(self) -> float:
        return self.validation_loss - self.train_loss

    @property
    def zero_one_gap(self) -> float:
        return self.validation_zero_one_loss - self.train_zero_one_loss


def _surrogate_and_error(
    model: torch.nn.Module, loss_fn: LossArgument, x: Any, y: Any, batch_size: int
) -> tuple[float, float]:
    """The mean cost and 0-1 loss over the data, a batch at a time (the cost of each batch
    is a mean, weighted by its size)."""
    objective = resolve(model, loss_fn, x, y)
    total_loss = total_error = 0.0
    with torch.no_grad(), objective.evaluating():
        for start in range(0, len(objective.x), batch_size):
            xb, yb = (
                objective.x[start : start + batch_size],
                objective.y[start : start + batch_size],
            )
            total_loss += float(objective.cost(xb, yb)) * len(xb)
            predictions = objective.to_prediction(objective.forward(xb))
            total_error += float(metrics.zero_one_loss(yb, predictions).sum())
    count = len(objective.x)
    return total_loss / count, total_error / count


def generalization(
    model: torch.nn.Module,
    loss_fn: LossArgument,
    train: tuple[Any, Any],
    validation: tuple[Any, Any],
    batch_size: int = 1024,
) -> Generalization:
    """The surrogate (the cost J that training minimizes, penalties included) and the 0-1
    loss on ``train = (x, y)`` and ``validation = (x, y)`` at the model's parameters."""
    batch_size = check_count("batch_size", batch_size)
    for name, pair in (("train", train), ("validation", validation)):
        check_argument(
            name,
            type(pair).__name__,
            isinstance(pair, (tuple, list)) and len(pair) == 2,
            "a pair (x, y)",
        )
    return Generalization(
        *_surrogate_and_error(model, loss_fn, *train, batch_size),
        *_surrogate_and_error(model, loss_fn, *validation, batch_size),
    )


def _zero_one(history: Mapping[str, Sequence[float]], prefix: str) -> list[float] | None:
    if f"{prefix}zero_one_loss" in history:
        return [float(v) for v in history[f"{prefix}zero_one_loss"]]
    if f"{prefix}accuracy" in history:
        return [1.0 - float(v) for v in history[f"{prefix}accuracy"]]
    return None


def _early_stopping_epoch(
    values: Sequence[float], monitor: str, patience: int
) -> tuple[int, int | None]:
    """The epoch EarlyStopping(monitor, patience, restore_best_weights=True) would restore
    and the one it would stop at (``None``: it would not have stopped), by running it."""
    callback = EarlyStopping(monitor=monitor, patience=patience)
    run = SimpleNamespace(stop_training=False)
    callback.set_model(run)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {monitor: value})
        if run.stop_training:
            return callback.best_epoch, epoch
    return callback.best_epoch, None


def learning_summary(
    history: Mapping[str, Sequence[float]], monitor: str = "val_loss", patience: int = 3
) -> dict[str, Any]:
    """Learning versus pure optimization, from ``History.history``.

    Returns the per-epoch surrogate (``loss``, ``val_loss``) and 0-1 losses (from
    ``zero_one_loss`` or 1 − ``accuracy`` metrics), the generalization gaps, and where
    early stopping on ``monitor`` with ``patience`` would have stopped and which epoch it
    would have restored; the epoch after which the training 0-1 loss stopped improving
    while the surrogate kept falling (``None`` if it never did).
    """
    check_argument("history", sorted(history), "loss" in history, "a History.history with 'loss'")
    patience = check_count("patience", patience, minimum=0)
    loss = [float(v) for v in history["loss"]]
    summary: dict[str, Any] = {"epochs": len(loss), "loss": loss}
    train_error, val_error = _zero_one(history, ""), _zero_one(history, "val_")
    summary["zero_one_loss"], summary["val_zero_one_loss"] = train_error, val_error
    val_loss = [float(v) for v in history["val_loss"]] if "val_loss" in history else None
    summary["val_loss"] = val_loss
    summary["loss_gap"] = (
        None if val_loss is None else [v - t for v, t in zip(val_loss, loss, strict=True)]
    )
    summary["zero_one_gap"] = (
        None
        if train_error is None or val_error is None
        else [v - t for v, t in zip(val_error, train_error, strict=True)]
    )
    if monitor in history:
        best, stopped = _early_stopping_epoch(
            [float(v) for v in history[monitor]], monitor, patience
        )
        summary["early_stopping"] = {
            "monitor": monitor,
            "patience": patience,
            "best_epoch": best,
            "stopped_epoch": stopped,
        }
    else:
        summary["early_stopping"] = None
    summary["surrogate_falls_after_zero_one_stalls"] = _stall(loss, train_error)
    return summary


def _stall(loss: list[float], error: list[float] | None) -> int | None:
    """The first epoch from which the 0-1 loss never improves again while the surrogate
    still falls by the end."""
    if error is None or len(error) < 2:
        return None
    best = min(error)
    first_best = error.index(best)
    if (
        first_best < len(error) - 1
        and loss[-1] < loss[first_best] - 1e-12
        and not math.isnan(loss[-1])
    ):
        return first_best
    return None
