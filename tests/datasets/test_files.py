"""get_file: file:// and a local HTTP server, hash checks, caching and atomic writes."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import types
from pathlib import Path

import pytest

from deepdescent.datasets import DatasetError, files, get_file

BODY = bytes(range(256)) * 40
DIGEST = hashlib.sha256(BODY).hexdigest()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_file_url(tmp_path: Path) -> None:
    source = tmp_path / "origin" / "data.bin"
    source.parent.mkdir()
    source.write_bytes(BODY)
    cache = tmp_path / "cache"
    path = get_file("data.bin", source.as_uri(), file_hash=DIGEST, cache_dir=cache)
    assert path == str(cache / "data.bin")
    assert Path(path).read_bytes() == BODY
    assert os.listdir(cache) == ["data.bin"]


def test_http_download_then_cache_hit(tmp_path: Path, http_server) -> None:
    http_server.routes["/data.bin"] = BODY
    url = http_server.url("data.bin")
    path = get_file("data.bin", url, file_hash=DIGEST.upper(), cache_dir=tmp_path, timeout=5)
    assert Path(path).read_bytes() == BODY
    assert http_server.hits["/data.bin"] == 1
    assert get_file("data.bin", url, file_hash=DIGEST, cache_dir=tmp_path, timeout=5) == path
    assert http_server.hits["/data.bin"] == 1  # the cached file was reused
    get_file("data.bin", url, file_hash=DIGEST, cache_dir=tmp_path, force_download=True)
    assert http_server.hits["/data.bin"] == 2


def test_cached_file_without_hash_is_reused(tmp_path: Path, http_server) -> None:
    (tmp_path / "data.bin").write_bytes(b"placed by hand")
    path = get_file("data.bin", http_server.url("data.bin"), cache_dir=tmp_path, timeout=5)
    assert Path(path).read_bytes() == b"placed by hand"
    assert http_server.hits["/data.bin"] == 0


def test_cached_file_with_wrong_hash_is_downloaded_again(tmp_path: Path, http_server) -> None:
    http_server.routes["/data.bin"] = BODY
    (tmp_path / "data.bin").write_bytes(b"stale")
    url = http_server.url("data.bin")
    path = get_file("data.bin", url, file_hash=DIGEST, cache_dir=tmp_path, timeout=5)
    assert Path(path).read_bytes() == BODY
    assert http_server.hits["/data.bin"] == 1


def test_hash_mismatch_removes_the_download_and_raises(tmp_path: Path, http_server) -> None:
    http_server.routes["/data.bin"] = BODY + b"tampered"
    wrong = hashlib.sha256(BODY + b"tampered").hexdigest()
    with pytest.raises(DatasetError) as info:
        get_file("data.bin", http_server.url("data.bin"), DIGEST, tmp_path, timeout=5)
    message = str(info.value)
    assert "data.bin" in message and DIGEST in message and wrong in message
    assert os.listdir(tmp_path) == []  # neither the final name nor a temporary file


def test_short_body_leaves_no_file(tmp_path: Path, http_server) -> None:
    http_server.routes["/data.bin"] = BODY
    http_server.short.add("/data.bin")
    url = http_server.url("data.bin")
    with pytest.raises(DatasetError, match=f"ended after {len(BODY) // 2} of {len(BODY)} bytes"):
        get_file("data.bin", url, cache_dir=tmp_path, timeout=5)
    assert os.listdir(tmp_path) == []


def test_failed_download_keeps_the_previous_file_intact(tmp_path: Path, http_server) -> None:
    (tmp_path / "data.bin").write_bytes(b"previous")
    http_server.routes["/data.bin"] = BODY
    http_server.short.add("/data.bin")
    url = http_server.url("data.bin")
    with pytest.raises(DatasetError, match=f"ended after {len(BODY) // 2} of {len(BODY)} bytes"):
        get_file("data.bin", url, cache_dir=tmp_path, force_download=True, timeout=5)
    assert (tmp_path / "data.bin").read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["data.bin"]


def test_error_mid_copy_leaves_no_file(tmp_path: Path, http_server, monkeypatch) -> None:
    http_server.routes["/data.bin"] = BODY

    class Exploding:
        """Stands for the digest; fails on the first chunk, as a full disk would."""

        def update(self, data: bytes) -> None:
            raise OSError("disk on fire")

    monkeypatch.setattr(files, "hashlib", types.SimpleNamespace(sha256=Exploding))
    with pytest.raises(DatasetError, match="disk on fire"):
        get_file("data.bin", http_server.url("data.bin"), cache_dir=tmp_path, timeout=5)
    assert os.listdir(tmp_path) == []


def test_http_error_names_the_address_and_the_manual_fix(tmp_path: Path, http_server) -> None:
    url = http_server.url("missing.bin")
    with pytest.raises(DatasetError) as info:
        get_file("missing.bin", url, cache_dir=tmp_path, timeout=5)
    message = str(info.value)
    assert url in message and "404" in message
    assert f"save the file as {tmp_path / 'missing.bin'}" in message
    assert os.listdir(tmp_path) == []


def test_connection_refused_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/data.bin"
    with pytest.raises(DatasetError, match=re.escape(f"could not download data.bin from {url}")):
        get_file("data.bin", url, cache_dir=tmp_path, timeout=5)


def test_missing_file_url_is_a_clear_error(tmp_path: Path) -> None:
    url = (tmp_path / "nowhere.bin").as_uri()
    with pytest.raises(DatasetError, match=r"could not download nowhere\.bin"):
        get_file("nowhere.bin", url, cache_dir=tmp_path / "cache")


def test_default_cache_dir_is_the_data_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPDESCENT_DATA", str(tmp_path / "root"))
    source = tmp_path / "data.bin"
    source.write_bytes(BODY)
    assert get_file("data.bin", source.as_uri()) == str(tmp_path / "root" / "data.bin")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"fname": "../escape.bin"}, "fname must be a plain file name, got '../escape.bin'"),
        ({"fname": ""}, "fname must be a plain file name"),
        ({"origin": "ftp://host/data.bin"}, "origin must be an http://.*got 'ftp://host"),
        ({"origin": "/local/data.bin"}, "origin must be"),
        ({"file_hash": "abc"}, "file_hash must be a SHA-256 digest.*got 'abc'"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path: Path, kwargs: dict, pattern: str) -> None:
    arguments = {"fname": "data.bin", "origin": "file:///x", "cache_dir": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        get_file(**arguments)


def test_an_md5_digest_is_checked_too(tmp_path: Path, http_server) -> None:
    http_server.routes["/index.json"] = BODY
    md5 = hashlib.md5(BODY).hexdigest()
    path = get_file("index.json", http_server.url("index.json"), md5, tmp_path, timeout=5)
    assert Path(path).read_bytes() == BODY
    http_server.routes["/other.json"] = BODY + b"!"
    with pytest.raises(DatasetError, match=md5):
        get_file("other.json", http_server.url("other.json"), md5, tmp_path, timeout=5)


def test_locate_file_prefers_the_given_path_then_the_data_root_then_downloads(
    tmp_path: Path, http_server, monkeypatch
) -> None:
    monkeypatch.setenv("DEEPDESCENT_DATA", str(tmp_path / "root"))
    monkeypatch.setattr(files, "DEBIAN_ROOT", tmp_path / "debian")
    http_server.routes["/set.bin"] = BODY
    origin = http_server.url("set.bin")
    downloaded = files.locate_file("set", "Set", "set.bin", origin, DIGEST)
    assert downloaded == tmp_path / "root" / "set" / "set.bin"
    assert files.locate_file("set", "Set", "set.bin", origin, DIGEST) == downloaded
    assert http_server.hits["/set.bin"] == 1
    given = tmp_path / "mine.bin"
    given.write_bytes(b"x")
    assert files.locate_file("set", "Set", "set.bin", origin, DIGEST, given) == given
    with pytest.raises(FileNotFoundError, match="no file"):
        files.locate_file("set", "Set", "set.bin", origin, DIGEST, tmp_path / "none")


def test_locate_file_uses_debian_before_downloading(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPDESCENT_DATA", str(tmp_path / "root"))
    monkeypatch.setattr(files, "DEBIAN_ROOT", tmp_path / "debian")
    (tmp_path / "debian" / "set").mkdir(parents=True)
    (tmp_path / "debian" / "set" / "set.bin").write_bytes(b"debian")
    found = files.locate_file("set", "Set", "set.bin", "http://127.0.0.1:9/x", DIGEST)
    assert found.read_bytes() == b"debian"
