"""The worker of the data-parallel tests, started by torchrun on two processes:

    torchrun --standalone --nproc_per_node=2 tests/training/_distributed.py OUT_DIR

Each process trains a float64 network data-parallel with several optimizers and writes
OUT_DIR/rank{r}.json: the weights after every step, the rows its forward pass saw at
every step, the final weights and History, and (rank 0) the same training in one process
on the same global batches; the refusals of the methods that cannot run data-parallel;
and a data-parallel run interrupted and resumed from its backup.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from deepdescent import callbacks
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers import catalogue
from deepdescent.training.distributed import launched_by_torchrun
from deepdescent.utils import set_random_seed, to_categorical

TRAINED = ("sgd", "momentum", "adam", "lbfgs", "cg", "sam", "shampoo")
REFUSED = ("newton", "hessian_free", "kfac")
BATCH, EPOCHS = 8, 2  # 29 training samples: batches of 8, 8, 8, 5


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(37, 5))
    return x, to_categorical(rng.integers(0, 3, 37), 3).astype("float64")


def model_for(name):
    set_random_seed(0)
    model = Sequential([Dense(6, activation="tanh", input_shape=(5,)), Dense(3, "softmax")])
    model.double()
    entry = catalogue.info(name)
    model.compile(
        optimizer=entry.build(None, **entry.lecture.kwargs), loss="categorical_crossentropy"
    )
    return model


class Recorder(callbacks.Callback):
    """The weights after every training step, and the rows of each forward pass of every
    training step."""

    def __init__(self):
        super().__init__()
        self.weights, self.rows, self._training = [], [], False

    def set_model(self, model):
        super().set_model(model)
        model.layers[0].register_forward_pre_hook(self._count)

    def _count(self, module, inputs):
        if self._training:
            self.rows[-1].append(len(inputs[0]))

    def on_train_batch_begin(self, batch, logs=None):
        self._training = True
        self.rows.append([])

    def on_train_batch_end(self, batch, logs=None):
        self._training = False
        flat = torch.cat([p.detach().reshape(-1) for p in self.model.parameters()])
        self.weights.append(flat.tolist())


def final(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).tolist()


def train(name, distributed, extra=()):
    model = model_for(name)
    recorder = Recorder()
    history = model.fit(
        *data(),
        batch_size=None if catalogue.info(name).cls.training_needs.full_batch else BATCH,
        epochs=EPOCHS,
        verbose=0,
        validation_split=0.2,
        callbacks=[recorder, *extra],
        distributed=distributed,
    )
    return {
        "weights": recorder.weights,
        "rows": recorder.rows,
        "final": final(model),
        "history": history.history,
    }


class Interrupted(Exception):
    pass


class InterruptAt(callbacks.Callback):
    def __init__(self, steps):
        super().__init__()
        self.steps, self.seen = steps, 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.seen == self.steps:
            raise Interrupted
        self.seen += 1


def resumed(out: Path):
    backup = out / "backup"
    reference = train("adam", None, [callbacks.BackupAndRestore(out / "reference", 1)])
    with contextlib.suppress(Interrupted):
        train("adam", None, [callbacks.BackupAndRestore(backup, 1), InterruptAt(5)])
    again = train("adam", None, [callbacks.BackupAndRestore(backup, 1)])
    return {
        "identical": again["final"] == reference["final"]
        and again["history"] == reference["history"],
        "backup_deleted": not backup.exists(),
    }


def main(out: Path) -> None:
    warnings.simplefilter("ignore")
    assert launched_by_torchrun()
    results = {name: train(name, None) for name in TRAINED}
    refusals = {}
    for name in REFUSED:
        try:
            train(name, True)
        except ValueError as error:
            refusals[name] = str(error)
    rank = dist.get_rank()
    if rank == 0:
        for name in TRAINED:
            results[name]["single"] = train(name, False)
    record = {"results": results, "refusals": refusals, "resume": resumed(out)}
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
