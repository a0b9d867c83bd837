"""The IDX format of MNIST, read and written with NumPy.

An IDX file is a 4-byte magic number, one big-endian ``uint32`` size per dimension, then
the values in C order, big-endian::

    byte 0-1   0x00 0x00
    byte 2     data type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
               0x0D float32, 0x0E float64
    byte 3     number of dimensions n (1 or more)
    then       n sizes d_1 ... d_n (uint32, MSB first)
    then       d_1 * ... * d_n values of the data type (MSB first)

Files are often gzip-compressed (``*.gz``); ``read_idx`` recognizes gzip by its magic
bytes ``1f 8b``, not by the file's name. Reference: the format notes of the MNIST
database (LeCun, Cortes & Burges).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from deepdescent.utils.io import atomic_open

__all__ = ["DatasetError", "read_idx", "write_idx"]

# IDX type code → big-endian NumPy dtype.
_CODE_TO_DTYPE: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_DTYPE_TO_CODE = {dtype.newbyteorder("="): code for code, dtype in _CODE_TO_DTYPE.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DIM = 2**32 - 1


class DatasetError(ValueError):
    """A dataset file is missing data, corrupt, or not the file that was expected."""


def _describe_codes() -> str:
    return ", ".join(
        f"0x{code:02X} ({dtype.newbyteorder('=').name})" for code, dtype in _CODE_TO_DTYPE.items()
    )


def _decompress(path: Path, raw: bytes) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"{path}: the gzip stream is broken ({exc}): the file is truncated or corrupt"
        ) from exc


def _parse_header(path: Path, data: bytes) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    """Return the big-endian dtype, the dimension sizes and the header length."""
    if len(data) < 4:
        raise DatasetError(
            f"{path}: the file holds {len(data)} bytes, too short for the 4-byte IDX magic "
            "number: the file is truncated or not an IDX file"
        )
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"{path}: bad magic number {data[:4].hex(' ')}: an IDX file starts with two zero "
            "bytes, so this is not an IDX file"
        )
    code, ndim = data[2], data[3]
    if code not in _CODE_TO_DTYPE:
        raise DatasetError(
            f"{path}: unknown IDX data type code 0x{code:02X}; expected one of {_describe_codes()}"
        )
    if ndim == 0:
        raise DatasetError(f"{path}: the header declares 0 dimensions; expected 1 or more")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DatasetError(
            f"{path}: the header declares {ndim} dimensions ({header_len} header bytes) but the "
            f"file ends after {len(data)} bytes: the file is truncated"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    return _CODE_TO_DTYPE[code], dims, header_len


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a native-endian array.

    Args:
        path: the file. Compression is detected from its first two bytes.

    Returns:
        A writable array of the file's dtype (uint8, int8, int16, int32, float32 or
        float64) and shape ``(d_1, ..., d_n)``.

    Raises:
        DatasetError: the file is not a complete IDX file (bad magic number, unknown data
            type, truncated header or payload, trailing bytes, broken gzip stream). The
            message names the file and what is wrong.
        FileNotFoundError: there is no file at ``path``.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        data = _decompress(path, data)
    dtype, dims, header_len = _parse_header(path, data)
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header_len
    if found != expected:
        problem = (
            "the file is truncated"
            if found < expected
            else f"{found - expected} unexpected trailing bytes"
        )
        shape = "x".join(map(str, dims))
        raise DatasetError(
            f"{path}: expected {expected} bytes of {dtype.newbyteorder('=').name} data "
            f"(shape {shape}) after the header, found {found}: {problem}"
        )
    values = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header_len)
    return values.reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, compress: bool | None = None
) -> None:
    """Write ``array`` as an IDX file, atomically.

    Args:
        path: the destination; any missing parent folders are created.
        array: an array of at least one dimension, of dtype uint8, int8, int16, int32,
            float32 or float64 (either byte order).
        compress: gzip the file; ``None`` means "if ``path`` ends in ``.gz``".
    """
    path = Path(path)
    array = np.asarray(array)
    code = _DTYPE_TO_CODE.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(
            f"write_idx: array has dtype {array.dtype}, which IDX cannot store; expected one "
            f"of {_describe_codes()}"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(
            f"write_idx: array has {array.ndim} dimensions; IDX stores 1 to 255 dimensions"
        )
    if max(array.shape) > _MAX_DIM:
        raise ValueError(
            f"write_idx: array has shape {array.shape}; IDX sizes must be at most {_MAX_DIM}"
        )
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    payload = header + array.astype(_CODE_TO_DTYPE[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        payload = gzip.compress(payload, mtime=0)
    with atomic_open(path) as stream:
        stream.write(payload)
