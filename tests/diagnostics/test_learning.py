"""Surrogate and 0-1 losses, gaps and early stopping's epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diagnostics._problems import classification_batch, tanh_net

from deepdescent.diagnostics import generalization, learning_summary


def test_generalization_against_direct_computation():
    net = tanh_net()
    train, validation = classification_batch(n=30, seed=1), classification_batch(n=20, seed=2)
    result = generalization(net, torch.nn.CrossEntropyLoss(), train, validation, batch_size=7)
    with torch.no_grad():
        for (x, y), loss, error in (
            (train, result.train_loss, result.train_zero_one_loss),
            (validation, result.validation_loss, result.validation_zero_one_loss),
        ):
            assert loss == pytest.approx(
                float(torch.nn.functional.cross_entropy(net(x), y)), rel=1e-12
            )
            assert error == pytest.approx(float((net(x).argmax(1) != y).double().mean()))
    assert result.loss_gap == pytest.approx(result.validation_loss - result.train_loss)


def test_learning_summary_of_an_overfitting_run():
    history = {
        "loss": [1.0, 0.6, 0.4, 0.3, 0.25, 0.2, 0.18],
        "accuracy": [0.6, 0.8, 0.9, 0.95, 0.95, 0.95, 0.95],
        "val_loss": [1.1, 0.8, 0.7, 0.72, 0.75, 0.69, 0.8],
        "val_zero_one_loss": [0.4, 0.3, 0.25, 0.26, 0.27, 0.27, 0.3],
    }
    summary = learning_summary(history, patience=2)
    np.testing.assert_allclose(summary["zero_one_loss"], [0.4, 0.2, 0.1, 0.05, 0.05, 0.05, 0.05])
    np.testing.assert_allclose(
        summary["loss_gap"], np.subtract(history["val_loss"], history["loss"])
    )
    np.testing.assert_allclose(summary["zero_one_gap"][-1], 0.3 - 0.05)
    # EarlyStopping(patience=2): best at epoch 2, no improvement at 3 and 4 -> stops at 4.
    assert summary["early_stopping"] == {
        "monitor": "val_loss",
        "patience": 2,
        "best_epoch": 2,
        "stopped_epoch": 4,
    }
    assert learning_summary(history, patience=5)["early_stopping"]["stopped_epoch"] is None
    assert learning_summary(history, patience=5)["early_stopping"]["best_epoch"] == 5
    # Training 0-1 loss stalls from epoch 3 while the surrogate keeps falling.
    assert summary["surrogate_falls_after_zero_one_stalls"] == 3


def test_a_history_without_validation():
    summary = learning_summary({"loss": [1.0, 0.5]})
    assert summary["val_loss"] is None and summary["early_stopping"] is None
    with pytest.raises(ValueError, match="Invalid history"):
        learning_summary({"val_loss": [1.0]})
