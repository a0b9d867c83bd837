"""Writing files so that no half-written file ever exists under the final name, and
archives whose members are checked (sizes before reading, SHA-256 after).

A file is written to a temporary beside its final name (``.NAME.RANDOM.part``) and renamed
onto it once complete; a writer killed midway leaves only the temporary, which
:func:`remove_temporaries` clears. The temporary is created with mode 0666 less the
process's umask, as ``open`` would create the final file, so saved files get the user's
usual permissions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

__all__ = [
    "MANIFEST",
    "CheckedArchive",
    "DamagedFileError",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "check_not_keras_file",
    "is_keras_file",
    "remove_temporaries",
    "write_checked_archive",
]

TEMPORARY_SUFFIX = ".part"
MANIFEST = "manifest.json"
#: The largest JSON member (config, manifest, metadata) an archive may hold.
MAX_JSON_BYTES = 16 * 2**20


def _check_target(target: Path) -> None:
    if target.is_dir():
        raise IsADirectoryError(
            f"Cannot save to {os.fspath(target)!r}: it is an existing folder; "
            "give a file name (e.g. inside that folder)"
        )


def _create_temporary(target: Path) -> Path:
    """A new empty file beside ``target``, created exclusively with mode 0666 & ~umask."""
    while True:
        temporary = target.parent / f".{target.name}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}"
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return temporary


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success its data are flushed to
    disk and it is renamed onto ``path`` (``os.replace``, atomic on POSIX); on any error
    it is removed and ``path`` is left as it was.

    Raises:
        IsADirectoryError: ``path`` is an existing folder.
    """
    target = Path(path)
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _create_temporary(target)
    try:
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(target.parent)


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


def remove_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporaries that killed writers left in ``folder``; returns them."""
    directory = Path(folder)
    if not directory.is_dir():
        return []
    stale = [p for p in directory.glob(f".*{TEMPORARY_SUFFIX}") if p.is_file()]
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return stale


# -- archives of checked members -------------------------------------------------------


class DamagedFileError(ValueError):
    """The file is not the archive expected, or it was damaged or modified."""


def write_checked_archive(
    path: str | os.PathLike[str], members: Mapping[str, bytes], compress: bool = True
) -> None:
    """Write ``members`` (name → bytes) and a manifest of their SHA-256s as one zip file,
    atomically."""
    manifest = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2).encode())


class CheckedArchive:
    """A zip written by :func:`write_checked_archive`, open for reading.

    Every member is checked twice: its size as the archive declares it, against a limit
    the caller gives, *before* it is decompressed (so a small file cannot inflate into a
    huge one), and its SHA-256 against the manifest once read.

    Args:
        path: the file.
        error: the exception class to raise (a :class:`DamagedFileError`), so callers
            name their own kind of file.
        kind: what the file should be, in words, for the messages.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        error: type[DamagedFileError] = DamagedFileError,
        kind: str = "checked archive",
    ) -> None:
        self.path, self.error, self.kind = os.fspath(path), error, kind
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"No {kind} at {self.path!r}")
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise error(
                f"{self.path!r} is not a {kind} (not a readable zip archive: {exc})"
            ) from exc
        self._sizes = {info.filename: info.file_size for info in self._zip.infolist()}
        if MANIFEST not in self._sizes:
            self.close()
            raise error(f"{self.path!r} is not a {kind} (it has no {MANIFEST})")
        self.manifest = self.read_json(MANIFEST, verify=False)

    def __enter__(self) -> CheckedArchive:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def __contains__(self, name: object) -> bool:
        return name in self._sizes

    def size(self, name: str) -> int:
        """The member's size once decompressed, as the archive declares it."""
        return self._sizes[name]

    def read(self, name: str, limit: int, verify: bool = True) -> bytes:
        """The member ``name``, refused before reading when it declares more than
        ``limit`` bytes, and checked against the manifest (unless ``verify=False``)."""
        if name not in self._sizes:
            raise self.error(f"{self.path!r} is not a {self.kind} (it has no {name})")
        if self._sizes[name] > limit:
            raise self.error(
                f"{name} in {self.path!r} declares {self._sizes[name]} bytes, more than the "
                f"{limit} it can hold here: the file is damaged or forged"
            )
        try:
            with self._zip.open(name) as stream:
                data = stream.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise self.error(f"{name} in {self.path!r} cannot be read: {exc}") from exc
        if len(data) > limit:
            raise self.error(f"{name} in {self.path!r} is larger than it declares")
        if verify and self.manifest.get(name) != hashlib.sha256(data).hexdigest():
            raise self.error(
                f"{self.path!r} was modified or damaged: the checksum of {name} does not "
                "match its manifest"
            )
        return data

    def read_json(self, name: str, verify: bool = True) -> dict[str, object]:
        """A JSON-object member (at most :data:`MAX_JSON_BYTES`)."""
        data = self.read(name, MAX_JSON_BYTES, verify)
        try:
            value = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self.error(f"{name} in {self.path!r} is not valid JSON") from exc
        if not isinstance(value, dict):
            raise self.error(f"{name} in {self.path!r} is not a JSON object")
        return value

    def check_complete(self) -> None:
        """Every member is in the manifest and the manifest names no missing member."""
        listed = set(self.manifest)
        present = set(self._sizes) - {MANIFEST}
        if listed != present:
            raise self.error(
                f"{self.path!r} was modified or damaged: its members "
                f"{sorted(present)} do not match its manifest {sorted(listed)}"
            )
