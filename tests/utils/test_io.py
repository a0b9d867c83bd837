"""Atomic writes: the file under its final name is either the old one or the complete new
one, and nothing is left behind when the writer fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deepdescent.utils.io import atomic_open, atomic_path, atomic_write_bytes


class Boom(Exception):
    pass


def test_atomic_write_bytes_writes_and_replaces(tmp_path: Path):
    target = tmp_path / "sub" / "dir" / "file.bin"
    atomic_write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    atomic_write_bytes(str(target), b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert os.listdir(target.parent) == ["file.bin"]


def test_nothing_appears_under_the_final_name_before_the_write_completes(tmp_path: Path):
    target = tmp_path / "file.bin"
    with atomic_open(target) as stream:
        stream.write(b"partial")
        stream.flush()
        assert not target.exists()
        (temporary,) = os.listdir(tmp_path)
        assert temporary.startswith(".file.bin.") and temporary.endswith(".part")
    assert target.read_bytes() == b"partial"


@pytest.mark.parametrize("existing", [None, b"the old content"])
def test_a_writer_that_raises_leaves_no_partial_file_and_the_old_one_intact(
    tmp_path: Path, existing
):
    target = tmp_path / "file.bin"
    if existing is not None:
        target.write_bytes(existing)
    with pytest.raises(Boom), atomic_open(target) as stream:
        stream.write(b"half of the new")
        raise Boom
    assert os.listdir(tmp_path) == ([] if existing is None else ["file.bin"])
    if existing is not None:
        assert target.read_bytes() == existing


def test_atomic_path_hands_a_path_for_libraries_that_write_by_name(tmp_path: Path):
    target = tmp_path / "picture.png"
    target.write_bytes(b"old")
    with pytest.raises(Boom), atomic_path(target) as temporary:
        temporary.write_bytes(b"new but broken")
        raise Boom
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["picture.png"]
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary != target
        temporary.write_bytes(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["picture.png"]


def test_keyboard_interrupt_is_cleaned_up_too(tmp_path: Path):
    target = tmp_path / "file.bin"
    with pytest.raises(KeyboardInterrupt), atomic_open(target) as stream:
        stream.write(b"x")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []
