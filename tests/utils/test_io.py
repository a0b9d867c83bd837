"""Atomic writes: the file under its final name is either the old one or the complete new
one, nothing is left behind when the writer fails, files get the user's umask and a folder
is not taken for a file; and checked archives (sizes refused before reading, checksums
after)."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from deepdescent.utils.io import (
    CheckedArchive,
    DamagedFileError,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    remove_temporaries,
    write_checked_archive,
)


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


@pytest.fixture
def umask():
    def set_umask(mask):
        previous.append(os.umask(mask))

    previous: list[int] = []
    yield set_umask
    for mask in previous[:1]:
        os.umask(mask)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_users_umask(tmp_path, umask, mask, mode):
    umask(mask)
    atomic_write_bytes(tmp_path / "f.bin", b"data")
    assert stat.S_IMODE(os.stat(tmp_path / "f.bin").st_mode) == mode


def test_saving_onto_a_folder_says_so(tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(IsADirectoryError, match="it is an existing folder"):
        atomic_write_bytes(tmp_path / "model", b"data")
    assert os.listdir(tmp_path) == ["model"]


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / ".m.zip.0a1b2c.part").write_bytes(b"half")
    (tmp_path / "keep.part").write_bytes(b"not ours: no leading dot")
    removed = remove_temporaries(tmp_path)
    assert [p.name for p in removed] == [".m.zip.0a1b2c.part"]
    assert sorted(os.listdir(tmp_path)) == ["keep.part"]


def test_a_checked_archive_round_trips(tmp_path):
    write_checked_archive(tmp_path / "a.zip", {"x.json": b"{}", "y.bin": b"\0" * 100})
    with CheckedArchive(tmp_path / "a.zip") as archive:
        archive.check_complete()
        assert archive.read_json("x.json") == {}
        assert archive.read("y.bin", limit=100) == b"\0" * 100


def test_a_member_larger_than_its_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """A small file inflating to a large member: refused from the declared size alone."""
    write_checked_archive(tmp_path / "a.zip", {"big.bin": b"\0" * 10**6})
    assert os.path.getsize(tmp_path / "a.zip") < 10**4

    def never(*args, **kwargs):
        raise AssertionError("the member was opened")

    with CheckedArchive(tmp_path / "a.zip") as archive:
        monkeypatch.setattr(zipfile.ZipFile, "open", never)
        with pytest.raises(DamagedFileError, match="declares 1000000 bytes, more than the 1000"):
            archive.read("big.bin", limit=1000)


def test_an_edited_member_fails_its_checksum(tmp_path):
    write_checked_archive(tmp_path / "a.zip", {"x.json": b'{"a": 1}'})
    with (
        zipfile.ZipFile(tmp_path / "a.zip", "a") as archive,
        pytest.warns(UserWarning, match="Duplicate name"),
    ):
        archive.writestr("x.json", b'{"a": 2}')
    with (
        CheckedArchive(tmp_path / "a.zip") as archive,
        pytest.raises(DamagedFileError, match=r"checksum of x\.json"),
    ):
        archive.read_json("x.json")


def test_a_member_missing_from_the_manifest_is_found(tmp_path):
    write_checked_archive(tmp_path / "a.zip", {"x.json": b"{}"})
    with zipfile.ZipFile(tmp_path / "a.zip", "a") as archive:
        archive.writestr("extra.bin", b"?")
    with (
        CheckedArchive(tmp_path / "a.zip") as archive,
        pytest.raises(DamagedFileError, match="do not match its manifest"),
    ):
        archive.check_complete()
