"""One short training run with BackupAndRestore, shared by the resume tests in-process and
as a script that the SIGKILL test starts and kills (imported as
``from training._resume import ...``: ``tests`` is on the path).

The run has everything a resume can get wrong: shuffling, dropout, AdamW with a learning
rate schedule, a validation split, a partial last batch, EarlyStopping's counters and
best weights, a CSV log.

    python tests/training/_resume.py BACKUP_DIR RESULT.npz [STEP_DELAY_SECONDS]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from deepdescent import callbacks
from deepdescent.layers import Dense, Dropout
from deepdescent.models import Sequential
from deepdescent.optimizers import AdamW
from deepdescent.schedules import ExponentialDecay
from deepdescent.utils import set_random_seed, to_categorical

EPOCHS, BATCH, SAMPLES, SPLIT = 3, 8, 44, 0.2  # 35 training samples: batches 8,8,8,8,3


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 5)).astype("float32")
    return x, to_categorical(rng.integers(0, 3, SAMPLES), 3)


def build() -> Sequential:
    set_random_seed(0)
    model = Sequential(
        [
            Dense(8, activation="relu", input_shape=(5,)),
            Dropout(0.3),
            Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=AdamW(learning_rate=ExponentialDecay(0.05, 3, 0.9)),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


class Pause(callbacks.Callback):
    """Sleep after each batch, so that a kill lands in the middle of training."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.seconds)


def train(
    backup_dir: str | Path | None,
    extra: list[callbacks.Callback] | None = None,
    save_freq: str | int = 1,
    csv: str | Path | None = None,
) -> tuple[Sequential, dict[str, list[float]]]:
    model = build()
    run_callbacks: list[callbacks.Callback] = [
        callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True),
    ]
    if csv is not None:
        run_callbacks.append(callbacks.CSVLogger(csv))
    if backup_dir is not None:
        run_callbacks.append(callbacks.BackupAndRestore(backup_dir, save_freq=save_freq))
    history = model.fit(
        *data(),
        batch_size=BATCH,
        epochs=EPOCHS,
        verbose=0,
        validation_split=SPLIT,
        callbacks=run_callbacks + (extra or []),
    )
    return model, history.history


def tensors_of(model: Sequential) -> dict[str, torch.Tensor]:
    """Every weight, buffer and optimizer tensor of the model, by name, and the count of
    the loss's evaluations in the run."""
    found = {f"model/{k}": v for k, v in model.state_dict().items()}
    found["trainer/evaluations"] = torch.tensor(model.trainer.evaluations)
    for index, entries in model.optimizer.state_dict()["state"].items():
        for key, value in entries.items():
            found[f"optimizer/{index}/{key}"] = torch.as_tensor(value)
    return found


if __name__ == "__main__":
    backup, result = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    trained, history = train(backup, [Pause(delay)])
    arrays = {k: v.numpy() for k, v in tensors_of(trained).items()}
    arrays |= {f"history/{k}": np.asarray(v) for k, v in history.items()}
    np.savez(result, **arrays)
