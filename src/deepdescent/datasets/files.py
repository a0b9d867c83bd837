"""Where dataset files come from: a cached, hash-checked download and the IDX data sets.

``get_file`` fetches one file into the data folder, in the spirit of Keras's
``keras.utils.get_file``. ``load_idx_dataset`` finds the four files of an MNIST-like data
set, in this order:

1. an explicit folder (``path=``), and nowhere else when one is given;
2. ``$DEEPDESCENT_DATA/NAME`` (default ``~/.deepdescent/datasets/NAME``);
3. Debian's dataset packages, ``/usr/share/datasets/NAME``;
4. a download from the canonical address into ``$DEEPDESCENT_DATA/NAME``, SHA-256 checked.

Files found on disk are accepted when they are well-formed IDX files of the right shapes;
only downloads are checked against the SHA-256 of the published ``.gz`` files (Debian, for
one, ships the same data recompressed, so its ``.gz`` bytes differ from the published ones).
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from deepdescent.datasets.idx import DatasetError, read_idx
from deepdescent.utils.io import atomic_open

__all__ = [
    "DEBIAN_ROOT",
    "DEFAULT_DATA_ROOT",
    "IdxDataset",
    "data_root",
    "get_file",
    "load_idx_dataset",
    "locate_file",
]

DEFAULT_DATA_ROOT = Path("~/.deepdescent/datasets")
"""Where data sets are kept when ``$DEEPDESCENT_DATA`` is not set."""
DEBIAN_ROOT = Path("/usr/share/datasets")
"""Where Debian's ``dataset-*`` packages install their files."""

_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")
_SCHEMES = ("http", "https", "file")


def data_root() -> Path:
    """The data folder: ``$DEEPDESCENT_DATA`` if set, else ``DEFAULT_DATA_ROOT``."""
    return Path(os.environ.get("DEEPDESCENT_DATA") or DEFAULT_DATA_ROOT).expanduser()


def _hasher(file_hash: str | None) -> Any:
    """SHA-256, or MD5 for a 32-digit digest (Keras publishes some files' MD5 only)."""
    return hashlib.md5() if file_hash is not None and len(file_hash) == 32 else hashlib.sha256()


def _digest(path: Path, file_hash: str | None) -> str:
    digest = _hasher(file_hash)
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_arguments(fname: str, origin: str, file_hash: str | None) -> str | None:
    if not fname or fname in (".", "..") or Path(fname).name != fname:
        raise ValueError(f"get_file: fname must be a plain file name, got {fname!r}")
    scheme = urllib.parse.urlsplit(origin).scheme
    if scheme not in _SCHEMES:
        raise ValueError(
            f"get_file: origin must be an http://, https:// or file:// address, got {origin!r}"
        )
    if file_hash is None:
        return None
    if not isinstance(file_hash, str) or not (
        _SHA256.fullmatch(file_hash.lower()) or _MD5.fullmatch(file_hash.lower())
    ):
        raise ValueError(
            "get_file: file_hash must be a SHA-256 digest (64 hex digits) or an MD5 digest "
            f"(32), got {file_hash!r}"
        )
    return file_hash.lower()


def _download(origin: str, target: Path, file_hash: str | None, timeout: float) -> None:
    """Copy ``origin`` to ``target`` through a temporary file, checking length and hash."""
    digest = _hasher(file_hash)
    size = 0
    with atomic_open(target) as out, urllib.request.urlopen(origin, timeout=timeout) as response:
        while chunk := response.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        announced = response.headers.get("Content-Length")
        if announced is not None and announced.isdigit() and int(announced) != size:
            raise ConnectionError(f"the transfer ended after {size} of {announced} bytes")
        if file_hash is not None and digest.hexdigest() != file_hash:
            kind = "MD5" if len(file_hash) == 32 else "SHA-256"
            raise DatasetError(
                f"{target.name} downloaded from {origin} has {kind} {digest.hexdigest()}, "
                f"expected {file_hash}: the download is corrupt or not the expected file, and "
                "was removed"
            )


def get_file(
    fname: str,
    origin: str,
    file_hash: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    force_download: bool = False,
    timeout: float = 60.0,
) -> str:
    """Download ``origin`` to ``cache_dir/fname`` unless a good copy is already there.

    Args:
        fname: the file's name in ``cache_dir``.
        origin: an ``http://``, ``https://`` or ``file://`` address.
        file_hash: the file's SHA-256 (hex; or its MD5, 32 digits). A cached file is reused
            only when its digest matches; a download whose digest differs is removed and
            raises.
        cache_dir: the folder; defaults to ``data_root()``. Created when missing.
        force_download: download even when a cached copy exists.
        timeout: seconds to wait on the network before giving up.

    Returns:
        The path of the file.

    Raises:
        DatasetError: the download failed (the message names the address and how to place
            the file by hand) or its SHA-256 differs from ``file_hash``.

    The file is written to a temporary name beside the target and renamed only once it is
    complete and verified, so no partial file ever exists under ``fname``.
    """
    file_hash = _check_arguments(fname, origin, file_hash)
    target = Path(cache_dir if cache_dir is not None else data_root()).expanduser() / fname
    cached = target.is_file() and not force_download
    if cached and (file_hash is None or _digest(target, file_hash) == file_hash):
        return str(target)
    try:
        _download(origin, target, file_hash, timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it holds the open connection
        raise DatasetError(
            f"could not download {fname} from {origin} ({exc}). If this machine is offline, "
            f"fetch that address elsewhere and save the file as {target}"
        ) from exc
    return str(target)


@dataclasses.dataclass(frozen=True)
class IdxDataset:
    """Everything needed to find an MNIST-like data set.

    Attributes:
        name: folder name under the data roots, e.g. ``"fashion-mnist"``.
        title: the name people know it by, for messages.
        base_url: the canonical address; each file is ``base_url + file name``.
        sha256: SHA-256 of each published ``.gz`` file, keyed by ``train_images``,
            ``train_labels``, ``test_images``, ``test_labels`` file names below.
        train_images, train_labels, test_images, test_labels: the ``.gz`` file names;
            the same names without ``.gz`` are accepted on disk.
        image_shape: the shape of one image.
        debian_package: the Debian package that installs the files, if any.
    """

    name: str
    title: str
    base_url: str
    sha256: Mapping[str, str]
    train_images: str = "train-images-idx3-ubyte.gz"
    train_labels: str = "train-labels-idx1-ubyte.gz"
    test_images: str = "t10k-images-idx3-ubyte.gz"
    test_labels: str = "t10k-labels-idx1-ubyte.gz"
    image_shape: tuple[int, ...] = (28, 28)
    debian_package: str | None = None

    def __post_init__(self) -> None:
        missing = [fname for fname in self.file_names if fname not in self.sha256]
        if missing:
            raise ValueError(f"IdxDataset {self.name!r}: sha256 lacks digests for {missing}")

    @property
    def file_names(self) -> tuple[str, str, str, str]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


def _find(folder: Path, fname: str) -> Path | None:
    """``folder/fname`` or its un-gzipped twin, whichever exists."""
    for candidate in (folder / fname, folder / fname.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _files_in(spec: IdxDataset, folder: Path) -> tuple[list[Path], list[str]]:
    """The data set's files found in ``folder`` and the names of those missing."""
    found, missing = [], []
    for fname in spec.file_names:
        path = _find(folder, fname)
        if path is None:
            missing.append(fname)
        else:
            found.append(path)
    return found, missing


def _download_all(spec: IdxDataset, folder: Path, searched: list[Path]) -> list[Path]:
    try:
        return [
            Path(get_file(fname, spec.base_url + fname, spec.sha256[fname], folder))
            for fname in spec.file_names
        ]
    except DatasetError as exc:
        places = ", ".join(str(p) for p in searched)
        debian = (
            f", install Debian's package (apt-get install {spec.debian_package})"
            if spec.debian_package
            else ""
        )
        raise DatasetError(
            f"{spec.title} was not found in {places} and could not be downloaded: {exc}. "
            f"Place the files {', '.join(spec.file_names)} in {folder}{debian}, or pass the "
            "folder that holds them as path="
        ) from exc


def _locate(spec: IdxDataset, path: str | os.PathLike[str] | None) -> list[Path]:
    if path is not None:
        folder = Path(path).expanduser()
        found, missing = _files_in(spec, folder)
        if missing:
            raise FileNotFoundError(
                f"{spec.title}: the folder {folder} lacks {', '.join(missing)} "
                "(the un-gzipped names are accepted too)"
            )
        return found
    home = data_root() / spec.name
    searched = [home, DEBIAN_ROOT / spec.name]
    for folder in searched:
        found, missing = _files_in(spec, folder)
        if not missing:
            return found
    return _download_all(spec, home, searched)


def _check_split(images: np.ndarray, labels: np.ndarray, spec: IdxDataset, names: str) -> None:
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DatasetError(
            f"{names}: expected uint8 images and labels, found {images.dtype} and {labels.dtype}"
        )
    if images.shape[1:] != spec.image_shape or labels.ndim != 1:
        raise DatasetError(
            f"{names}: expected images of shape (n, {', '.join(map(str, spec.image_shape))}) "
            f"and labels of shape (n,), found {images.shape} and {labels.shape}"
        )
    if len(images) != len(labels):
        raise DatasetError(
            f"{names}: {len(images)} images but {len(labels)} labels; the counts must match"
        )


def load_idx_dataset(
    spec: IdxDataset, path: str | os.PathLike[str] | None = None
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Find ``spec``'s files (see the module docstring for the order) and read them.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape
        ``(n, *spec.image_shape)`` and uint8 labels of shape ``(n,)``.

    Raises:
        FileNotFoundError: ``path`` was given and lacks some of the files.
        DatasetError: a file is corrupt, the shapes or counts disagree, or the download
            failed.
    """
    train_x, train_y, test_x, test_y = _locate(spec, path)
    splits = []
    for images_path, labels_path in ((train_x, train_y), (test_x, test_y)):
        images, labels = read_idx(images_path), read_idx(labels_path)
        _check_split(images, labels, spec, f"{images_path} and {labels_path}")
        splits.append((images, labels))
    return splits[0], splits[1]


def locate_file(
    name: str,
    title: str,
    fname: str,
    origin: str,
    file_hash: str,
    path: str | os.PathLike[str] | None = None,
) -> Path:
    """A data set kept in one file (an archive): ``path`` (the file, or a folder holding
    ``fname``) when given and nowhere else; else ``$DEEPDESCENT_DATA/name``, then
    ``/usr/share/datasets/name``, then a download from ``origin`` checked against
    ``file_hash``.

    Raises:
        FileNotFoundError: ``path`` was given and holds no such file.
        DatasetError: the file is nowhere and could not be downloaded.
    """
    if path is not None:
        given = Path(path).expanduser()
        found = given / fname if given.is_dir() else given
        if not found.is_file():
            raise FileNotFoundError(f"{title}: no file {found} (pass the file or its folder)")
        return found
    home = data_root() / name
    searched = [home, DEBIAN_ROOT / name]
    for folder in searched:
        if (folder / fname).is_file():
            return folder / fname
    try:
        return Path(get_file(fname, origin, file_hash, home))
    except DatasetError as exc:
        places = ", ".join(str(p) for p in searched)
        raise DatasetError(
            f"{title} was not found in {places} and could not be downloaded: {exc}. Place "
            f"{fname} in {home}, or pass its path as path="
        ) from exc
