"""Writing files so that no half-written file ever exists under the final name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success its data are flushed to
    disk and it is renamed onto ``path`` (``os.replace``, atomic on POSIX); on any error
    it is removed and ``path`` is left as it was."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".part", dir=target.parent
    )
    os.close(handle)
    try:
        yield Path(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary stream whose content replaces ``path`` only once it is complete."""
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        yield stream


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path) as stream:
        stream.write(data)


_KERAS_2_SUFFIXES = (".h5", ".hdf5")


def is_keras_file(filepath: str | os.PathLike[str]) -> bool:
    """Whether ``filepath`` names a Keras 3 ``.keras`` file (by its suffix)."""
    return os.fspath(filepath).lower().endswith(".keras")


def check_not_keras_file(
    filepath: str | os.PathLike[str], argument: str = "filepath", whole_model: bool = False
) -> None:
    """Refuse a path ending in Keras 2's HDF5 suffixes, which deepdescent neither reads nor
    writes (a file so named would pass for one Keras could open); and, unless the file
    holds a whole model (``whole_model``), Keras 3's ``.keras``, which only a whole model
    is written as."""
    path = os.fspath(filepath)
    if path.lower().endswith(_KERAS_2_SUFFIXES):
        raise ValueError(
            f"Invalid {argument}: {path!r} (expected a name not ending in .h5 or .hdf5: "
            "deepdescent does not read or write Keras 2's HDF5 files; save a model as "
            ".keras or .deepdescent, weights as .safetensors)"
        )
    if is_keras_file(path) and not whole_model:
        raise ValueError(
            f"Invalid {argument}: {path!r} (expected a name not ending in .keras: a .keras "
            "file holds a whole model, written by model.save and read by load_model; "
            "save weights as .safetensors)"
        )
