"""Backups of a whole training run, from which ``fit`` resumes bit for bit.

A run's state (:func:`capture`) is everything the rest of the run depends on — weights
and buffers, optimizer state, the minibatch iterator's generator and position, the random
states of torch (CPU and CUDA), NumPy and Python, where the run is (:class:`Position`),
the epoch's running metrics and the callbacks' states — as a state tree
(:mod:`deepdescent.utils.state`), which :class:`BackupStore` writes as strict JSON and
safetensors in one checked zip per backup (:mod:`deepdescent.utils.io`): loading runs no
code, a damaged file is found by its checksums. The store keeps the last two complete
backups and falls back to the older one, with a warning, when the newest is damaged. A
data-parallel run stores the random states and running metrics of every process, and
resumes with as many processes.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from deepdescent import metrics
from deepdescent.callbacks import CallbackList
from deepdescent.training.data import BatchIterator, structure_length
from deepdescent.training.numerics import StepGuard
from deepdescent.utils.io import (
    CheckedArchive,
    DamagedFileError,
    remove_temporaries,
    write_checked_archive,
)
from deepdescent.utils.state import pack, unpack

__all__ = [
    "BACKUPS_KEPT",
    "BackupStore",
    "Position",
    "RunParts",
    "capture",
    "get_rng_state",
    "restore",
    "set_rng_state",
]

FORMAT, VERSION = "deepdescent.backup", 1
BACKUPS_KEPT = 2
_STATE, _TENSORS = "state.json", "tensors.safetensors"
_NAME = re.compile(r"^backup-(\d{8})\.zip$")
# A backup holds the weights, the optimizer's state (a few tensors per parameter, or
# curvature matrices) and the callbacks' copies of the weights: bounded by a generous
# multiple of the model's size before anything is read.
_TENSOR_FLOOR, _TENSOR_FACTOR = 256 * 2**20, 64


class BackupError(DamagedFileError):
    """A backup file is damaged, or not a backup."""


@dataclass(frozen=True)
class Position:
    """Where a run is: ``batch`` batches of epoch ``epoch`` done (its end too when
    ``finished``), ``step`` training batches done in the whole run."""

    epoch: int
    batch: int
    finished: bool
    step: int


@dataclass
class RunParts:
    """What a backup is taken from and restored into."""

    model: Any
    optimizer: torch.optim.Optimizer
    batches: BatchIterator
    trackers: Sequence[metrics.Metric]
    callbacks: CallbackList
    guard: StepGuard
    #: Holds the run's counters (``state_dict``: the evaluations of the loss).
    trainer: Any
    #: This process and the number of processes (data-parallel runs).
    rank: int = 0
    world: int = 1
    #: ``gather(value)`` → every process's value, in rank order (data-parallel runs).
    gather: Callable[[Any], list[Any]] | None = None


def get_rng_state() -> dict[str, Any]:
    """The global random states: torch's CPU generator, every CUDA device's (when CUDA
    is initialized), NumPy's legacy generator and Python's."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Put back the random states of :func:`get_rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(_as_python_random_state(state["python"]))


def _as_python_random_state(state: Any) -> tuple[Any, ...]:
    version, internal, gauss = state
    return int(version), tuple(int(v) for v in internal), gauss


def fingerprint(parts: RunParts) -> dict[str, Any]:
    """What must match for a backup to continue this run."""
    return {
        "samples": structure_length(parts.batches.x),
        "batch_size": parts.batches.batch_size,
        "shuffle": parts.batches.shuffle,
        "optimizer": type(parts.optimizer).__name__,
        "processes": parts.world,
        "weights": {k: list(v.shape) for k, v in parts.model.state_dict().items()},
    }


def capture(parts: RunParts, position: Position, logs: dict[str, float]) -> dict[str, Any]:
    """The run's state at ``position`` (with the last epoch's ``logs``), as a state tree.

    What differs between the processes of a data-parallel run — their random states and
    the running metrics of their shares — is gathered from all of them (a collective:
    every process calls this at the same point)."""
    own = {
        "trackers": [tracker.state_dict() for tracker in parts.trackers],
        "rng": get_rng_state(),
    }
    return {
        "format": FORMAT,
        "version": VERSION,
        "run": fingerprint(parts),
        "position": asdict(position),
        "stop_training": bool(parts.model.stop_training),
        "logs": dict(logs),
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "batches": parts.batches.state_dict(),
        "callbacks": parts.callbacks.state_dict(),
        "guard": parts.guard.state_dict(),
        "trainer": parts.trainer.state_dict(),
        "processes": parts.gather(own) if parts.gather is not None else [own],
    }


def check_compatible(state: dict[str, Any], parts: RunParts, source: str) -> None:
    """Refuse a backup written by a run that this one cannot continue exactly."""
    saved, current = state["run"], fingerprint(parts)
    differing = [name for name in current if saved.get(name) != current[name]]
    if differing:
        details = "; ".join(
            f"{name}: {saved.get(name)!r} in the backup, {current[name]!r} now"
            for name in differing
            if name != "weights"
        )
        if "weights" in differing:
            details = "; ".join(filter(None, [details, "the model's weights differ"]))
        raise ValueError(
            f"The backup {source} was written by a different run ({details}); "
            "resume with the same data, batch size, model and optimizer, or delete the "
            "backup folder (or give BackupAndRestore another backup_dir) to start afresh"
        )


def restore(state: dict[str, Any], parts: RunParts) -> tuple[Position, dict[str, float], bool]:
    """Put the run back as :func:`capture` saw it; returns its position, last logs and
    whether training had been stopped there."""
    parts.model.load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    parts.batches.load_state_dict(state["batches"])
    own = state["processes"][parts.rank]
    for tracker, tracker_state in zip(parts.trackers, own["trackers"], strict=True):
        tracker.load_state_dict(tracker_state)
    parts.callbacks.load_state_dict(state["callbacks"])
    parts.guard.load_state_dict(state["guard"])
    parts.trainer.load_state_dict(state["trainer"])
    set_rng_state(own["rng"])
    position = Position(**state["position"])
    return position, {k: float(v) for k, v in state["logs"].items()}, bool(state["stop_training"])


def _tensor_limit(model: torch.nn.Module) -> int:
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return _TENSOR_FLOOR + _TENSOR_FACTOR * size


class BackupStore:
    """The backups of one run in a folder: ``backup-00000001.zip``, ``…02.zip``, …

    Args:
        folder: the run's backup folder (created on the first write).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(
                f"backup_dir {str(self.folder)!r} is a file; BackupAndRestore needs a folder"
            )

    def backups(self) -> list[Path]:
        """The backup files, oldest first."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if _NAME.match(p.name)]
        return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))  # type: ignore[union-attr]

    def remove_temporaries(self) -> None:
        """Delete what writers killed midway left behind."""
        remove_temporaries(self.folder)

    def write(self, state: dict[str, Any]) -> Path:
        """Write ``state`` as the newest backup, then drop all but the last
        :data:`BACKUPS_KEPT`."""
        existing = self.backups()
        number = int(_NAME.match(existing[-1].name).group(1)) + 1 if existing else 1  # type: ignore[union-attr]
        path = self.folder / f"backup-{number:08d}.zip"
        skeleton, tensors = pack(state)
        members = {
            _STATE: json.dumps(skeleton, allow_nan=False).encode(),
            _TENSORS: save_tensors(tensors),
        }
        # Stored, not deflated: backups are frequent and weights hardly compress.
        write_checked_archive(path, members, compress=False)
        for old in [*existing, path][:-BACKUPS_KEPT]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        return path

    def read(self, path: Path, model: torch.nn.Module) -> dict[str, Any]:
        """The state in backup ``path``.

        Raises:
            BackupError: the file is damaged or is not a backup.
        """
        with CheckedArchive(path, BackupError, "deepdescent backup") as archive:
            archive.check_complete()
            skeleton = archive.read_json(_STATE)
            data = archive.read(_TENSORS, _tensor_limit(model))
        try:
            state = unpack(skeleton, load_tensors(data))
        except (SafetensorError, ValueError) as error:
            raise BackupError(f"{str(path)!r} cannot be read: {error}") from error
        if not isinstance(state, dict) or (state.get("format"), state.get("version")) != (
            FORMAT,
            VERSION,
        ):
            raise BackupError(f"{str(path)!r} is not a deepdescent backup of version {VERSION}")
        return state

    def latest(self, model: torch.nn.Module) -> tuple[dict[str, Any], Path] | None:
        """The newest readable backup and its path, or ``None`` when there is none; each
        damaged newer one is reported with a warning."""
        for path in reversed(self.backups()):
            try:
                return self.read(path, model), path
            except BackupError as error:
                warnings.warn(
                    f"BackupAndRestore: the backup {str(path)!r} is damaged ({error}); "
                    "trying the one before it",
                    stacklevel=3,
                )
        if self.backups():
            warnings.warn(
                f"BackupAndRestore: no readable backup in {str(self.folder)!r}; training "
                "starts from the beginning",
                stacklevel=3,
            )
        return None

    def delete(self) -> None:
        """Delete every backup (and the folder, when that leaves it empty)."""
        for path in self.backups():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self.remove_temporaries()
        with contextlib.suppress(OSError):
            self.folder.rmdir()
