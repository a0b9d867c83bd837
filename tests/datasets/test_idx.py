"""The IDX reader and writer against byte strings written out by hand from the format."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from deepdescent.datasets import DatasetError, read_idx, write_idx

# (array, its IDX bytes spelled out from the format: 00 00 <type> <ndim> <sizes> <values>)
HAND_WRITTEN = {
    "uint8": (
        np.array([[0, 1, 2], [253, 254, 255]], dtype=np.uint8),
        bytes.fromhex("0000 0802 00000002 00000003 000102 fdfeff"),
    ),
    "int8": (
        np.array([-128, -1, 0, 127], dtype=np.int8),
        bytes.fromhex("0000 0901 00000004 80ff007f"),
    ),
    "int16": (
        np.array([1, -2, 258], dtype=np.int16),
        bytes.fromhex("0000 0B01 00000003 0001 fffe 0102"),
    ),
    "int32": (
        np.array([[258], [-1]], dtype=np.int32),
        bytes.fromhex("0000 0C02 00000002 00000001 00000102 ffffffff"),
    ),
    "float32": (
        np.array([1.0, -2.5], dtype=np.float32),
        bytes.fromhex("0000 0D01 00000002 3f800000 c0200000"),
    ),
    "float64": (
        np.array([-2.0], dtype=np.float64),
        bytes.fromhex("0000 0E01 00000001 c000000000000000"),
    ),
}


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_read_matches_hand_written_bytes(tmp_path: Path, name: str, compressed: bool) -> None:
    expected, raw = HAND_WRITTEN[name]
    path = tmp_path / "data.idx"
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    got = read_idx(path)
    assert got.dtype == expected.dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, expected)
    got[...] = 0  # the array is writable, as Keras's are


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_produces_hand_written_bytes(tmp_path: Path, name: str, suffix: str) -> None:
    array, raw = HAND_WRITTEN[name]
    path = tmp_path / f"data{suffix}"
    write_idx(path, array)
    written = path.read_bytes()
    assert (gzip.decompress(written) if suffix else written) == raw
    assert written[:2] == b"\x1f\x8b" if suffix else written[:2] == b"\x00\x00"
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind


@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", ">i2", "<i2", ">i4", "<i4", ">f4", "<f4", ">f8", "<f8"]
)
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("shape", [(7,), (4, 3, 2), (0, 5)])
def test_round_trip(tmp_path: Path, dtype: str, compress: bool, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    path = tmp_path / "sub" / "a.idx"  # missing folders are created
    write_idx(path, array, compress=compress)
    got = read_idx(path)
    assert got.shape == shape and got.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(got, array)


def test_compression_is_detected_by_magic_bytes_not_name(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    gz_without_suffix = tmp_path / "images"
    raw_with_gz_suffix = tmp_path / "images.gz"
    write_idx(gz_without_suffix, array, compress=True)
    write_idx(raw_with_gz_suffix, array, compress=False)
    assert gz_without_suffix.read_bytes()[:2] == b"\x1f\x8b"
    assert raw_with_gz_suffix.read_bytes()[:2] == b"\x00\x00"
    np.testing.assert_array_equal(read_idx(gz_without_suffix), array)
    np.testing.assert_array_equal(read_idx(raw_with_gz_suffix), array)


def test_write_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "a.idx"
    write_idx(path, np.zeros(3, dtype=np.uint8))
    write_idx(path, np.ones(2, dtype=np.int16))
    np.testing.assert_array_equal(read_idx(path), np.ones(2, dtype=np.int16))


IMAGES_HEADER = struct.pack(">BBBBIII", 0, 0, 0x08, 3, 2, 28, 28)

CORRUPTIONS = {
    # name: (file bytes, phrases the message must contain)
    "truncated payload": (
        IMAGES_HEADER + bytes(1000),
        ["expected 1568 bytes of uint8", "found 1000", "truncated"],
    ),
    "trailing bytes": (IMAGES_HEADER + bytes(1568 + 7), ["found 1575", "7 unexpected trailing"]),
    "bad magic": (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", ["bad magic", "two zero"]),
    "unknown dtype": (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", ["0x07", "unknown"]),
    "zero dimensions": (b"\x00\x00\x08\x00", ["0 dimensions"]),
    "truncated header": (IMAGES_HEADER[:10], ["3 dimensions", "ends after 10 bytes", "truncated"]),
    "shorter than magic": (b"\x00\x00", ["2 bytes", "too short"]),
    "truncated gzip": (
        gzip.compress(IMAGES_HEADER + bytes(1568))[:-20],
        ["gzip stream is broken", "truncated or corrupt"],
    ),
    "corrupt gzip checksum": (
        gzip.compress(IMAGES_HEADER + bytes(1568))[:-8] + b"\xde\xad\xbe\xef" + b"\x00" * 4,
        ["gzip stream is broken"],
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_files_raise_dataset_error_saying_what_is_wrong(tmp_path: Path, case: str) -> None:
    data, phrases = CORRUPTIONS[case]
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(DatasetError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    for phrase in phrases:
        assert phrase in message


def test_dataset_error_is_a_value_error() -> None:
    assert issubclass(DatasetError, ValueError)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent")


@pytest.mark.parametrize("dtype", [np.bool_, np.int64, np.uint16, np.complex64])
def test_write_rejects_dtypes_idx_cannot_store(tmp_path: Path, dtype: type) -> None:
    with pytest.raises(TypeError, match=rf"dtype {np.dtype(dtype)}.*0x08 \(uint8\)"):
        write_idx(tmp_path / "a.idx", np.zeros(2, dtype=dtype))
    assert os.listdir(tmp_path) == []


def test_write_rejects_a_scalar(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="0 dimensions"):
        write_idx(tmp_path / "a.idx", np.uint8(3))
