"""Reading the pickled arrays some public data sets ship (CIFAR's batches, IMDB's ``.npz``
of word-index lists) without running code from the file.

A pickle may name any callable; :func:`load_restricted` lets it name only NumPy's array
and dtype constructors and plain Python containers, and refuses anything else with
:class:`~deepdescent.datasets.idx.DatasetError`. :func:`load_npz` reads every array of an
``.npz``, object arrays through the same restricted loader.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from deepdescent.datasets.idx import DatasetError

__all__ = ["load_npz", "load_restricted"]

# The only globals a data pickle may name: NumPy's array reconstruction (its module moved
# from numpy.core to numpy._core in NumPy 2) and plain containers.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "tuple"),
    # Python 3 writes byte strings in protocol-2 pickles as _codecs.encode(text, "latin1").
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise DatasetError(
                f"the data file names {module}.{name}, which a data set never needs; it was "
                "refused rather than run (the file may be damaged or not what it claims)"
            )
        return super().find_class(module, name)


def load_restricted(stream: IO[bytes], encoding: str = "ASCII") -> Any:
    """Unpickle ``stream`` allowing only NumPy arrays and Python containers.

    ``encoding="bytes"`` reads Python 2 pickles (CIFAR's) with their byte-string keys.
    """
    try:
        return _RestrictedUnpickler(stream, encoding=encoding).load()
    except DatasetError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise DatasetError(f"the pickled data cannot be read: {error}") from error


def _read_npy(stream: IO[bytes]) -> np.ndarray:
    version = np.lib.format.read_magic(stream)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read_header(stream)
    if dtype.hasobject:
        array = load_restricted(stream, encoding="latin1")
        if not isinstance(array, np.ndarray):
            raise DatasetError(f"an object array was expected, found {type(array).__name__}")
        return array
    data = np.frombuffer(stream.read(), dtype=dtype)
    count = int(np.prod(shape))
    return data[:count].reshape(shape, order="F" if fortran else "C").copy()


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, by name."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {
                name.removesuffix(".npy"): _read_npy(io.BytesIO(archive.read(name)))
                for name in archive.namelist()
            }
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise DatasetError(f"{path} is not a readable .npz file: {error}") from error
