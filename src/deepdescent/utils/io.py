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


_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def check_not_keras_file(filepath: str | os.PathLike[str], argument: str = "filepath") -> None:
    """Refuse a path ending in Keras's suffixes: deepdescent reads and writes its own
    format (a zip of a JSON config and safetensors weights), and a file named ``.keras``
    or ``.h5`` would pass for a Keras file that Keras cannot open."""
    path = os.fspath(filepath)
    if path.lower().endswith(_KERAS_SUFFIXES):
        raise ValueError(
            f"Invalid {argument}: {path!r} (expected a name not ending in .keras, .h5 or "
            ".hdf5: deepdescent's files are not Keras files; use .deepdescent for a model "
            "and .safetensors for weights)"
        )
