"""BackupAndRestore: resume an interrupted ``fit`` exactly where it stopped."""

from __future__ import annotations

import os
from typing import Any

from deepdescent.callbacks.callback import Callback
from deepdescent.utils._checks import check_argument, is_integer

__all__ = ["BackupAndRestore"]


class BackupAndRestore(Callback):
    """Back up the whole run as it trains; the same ``fit`` started again with the same
    ``backup_dir`` continues from the last backup (Keras's name and arguments).

    A run whose process dies (killed, power lost) and is started again by the same script
    ends **bit-identical** to a run that was never interrupted: same weights, buffers and
    optimizer state, same History. A backup holds everything the rest of the run depends
    on: the weights and buffers; the optimizer's state (moments, step counts, the gradient
    accumulation counter, the learning rate a schedule or callback set); the minibatch
    iterator's generator and position within the epoch; the random states of torch (CPU
    and every CUDA device), NumPy and Python (dropout, sampling); the epoch and step; the
    epoch's running loss and metrics; and the state of every callback that keeps any
    (:meth:`~deepdescent.callbacks.Callback.state_dict`: History, EarlyStopping's best and
    wait, ReduceLROnPlateau's counters, the averaging callbacks' averages, the progress
    bar's count, CSVLogger's file).

    Backups are written by ``fit`` after every callback has seen the step or epoch, as
    safetensors + strict JSON in one zip per backup (loading runs no code), atomically,
    with a SHA-256 per member. The last two complete backups are kept: a damaged newest
    one is reported with a warning and the one before it used. Temporaries left by a
    writer that was killed are removed when ``fit`` starts. When training ends normally
    and ``delete_checkpoint`` is true the backups are deleted; a run stopped by an error,
    an interruption or non-finite values keeps them.

    Args:
        backup_dir: the folder for this run's backups (created if needed; one run per
            folder).
        save_freq: ``"epoch"`` (after each epoch) or an int N (after every N training
            batches, counted over the run, so a resumed run can start mid-epoch).
        delete_checkpoint: delete the backups once training has ended normally.

    Warning:
        Resuming needs the same data, batch size, shuffling, model and optimizer as the
        interrupted run; ``fit`` refuses a backup written with a different number of
        samples, batch size, shuffling or optimizer. More ``epochs`` than before are fine.
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike[str],
        save_freq: str | int = "epoch",
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__()
        check_argument(
            "backup_dir",
            backup_dir,
            isinstance(backup_dir, (str, os.PathLike)) and bool(os.fspath(backup_dir)),
            "a folder path",
        )
        ok = save_freq == "epoch" or (is_integer(save_freq) and int(save_freq) > 0)
        check_argument("save_freq", save_freq, ok, "'epoch' or an int > 0")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq: str | int = save_freq if save_freq == "epoch" else int(save_freq)
        self.delete_checkpoint = bool(delete_checkpoint)

    def due_after_batch(self, step: int) -> bool:
        """Whether ``fit`` backs up after the run's ``step``-th training batch (from 1)."""
        return self.save_freq != "epoch" and step % int(self.save_freq) == 0

    def due_after_epoch(self) -> bool:
        """Whether ``fit`` backs up after every epoch."""
        return self.save_freq == "epoch"

    def get_config(self) -> dict[str, Any]:
        return {
            "backup_dir": self.backup_dir,
            "save_freq": self.save_freq,
            "delete_checkpoint": self.delete_checkpoint,
        }
