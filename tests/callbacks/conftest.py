"""A stand-in for ``deepdescent.models.Model`` with just what callbacks use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch


class FakeOptimizer(torch.optim.SGD):
    """torch's SGD with two parameter groups and Keras's ``learning_rate`` property."""

    def __init__(self, lr: float) -> None:
        groups = [{"params": [torch.zeros(1, requires_grad=True)]} for _ in range(2)]
        super().__init__(groups, lr=lr)
        self.iterations = 0

    @property
    def learning_rate(self) -> float:
        return float(self.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        for group in self.param_groups:
            group["lr"] = float(value)


class FakeModel:
    """Weights are NumPy arrays; ``get_weights`` returns the live arrays (as a CPU tensor's
    ``.numpy()`` would), so a callback that keeps them must copy."""

    def __init__(self, lr: float = 0.1) -> None:
        self.stop_training = False
        self.optimizer = FakeOptimizer(lr)
        self.weights = [np.zeros(3), np.zeros((2, 2))]
        self.saved: list[tuple[str, str]] = []

    def get_weights(self) -> list[np.ndarray]:
        return self.weights

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        for mine, theirs in zip(self.weights, weights, strict=True):
            mine[...] = theirs

    def save(self, filepath: str) -> None:
        with open(filepath, "w") as f:
            f.write("model")
        self.saved.append(("save", filepath))

    def save_weights(self, filepath: str) -> None:
        with open(filepath, "w") as f:
            f.write("weights")
        self.saved.append(("save_weights", filepath))


def run_epochs(
    callback: Any,
    model: FakeModel,
    values: Sequence[float],
    key: str = "val_loss",
    on_epoch: Callable[[int], None] | None = None,
) -> int:
    """Drive ``callback`` through a fit whose epoch ``i`` logs ``{key: values[i]}``;
    return the number of epochs run before ``model.stop_training``."""
    callback.set_model(model)
    callback.on_train_begin({})
    epochs = 0
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch, {})
        if on_epoch is not None:
            on_epoch(epoch)
        callback.on_epoch_end(epoch, {key: value})
        epochs += 1
        if model.stop_training:
            break
    callback.on_train_end({})
    return epochs


@pytest.fixture
def model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def fit() -> Callable[..., int]:
    return run_epochs
