"""mnist.load_data, and what both IDX loaders share (the search order, the download and its
cache, the checks), run on mnist and fashion_mnist; Fashion-MNIST's own tests are in
test_fashion_mnist.py."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from deepdescent.datasets import DatasetError, fashion_mnist, mnist, write_idx

pytestmark = pytest.mark.usefixtures("isolated_roots")

FILE_NAMES = mnist.SPEC.file_names
MODULES = [mnist, fashion_mnist]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_explicit_path_comes_first(
    tmp_path: Path, make_tiny, module: ModuleType, data_folder, assert_loaded
) -> None:
    make_tiny(data_folder("data", module), seed=1)
    make_tiny(data_folder("debian", module), seed=2)
    mine = make_tiny(tmp_path / "mine", seed=3)
    assert_loaded(module.load_data(path=tmp_path / "mine"), mine)
    assert_loaded(module.load_data(path=str(tmp_path / "mine")), mine)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_data_root_comes_before_debian(
    make_tiny, module: ModuleType, data_folder, assert_loaded
) -> None:
    in_root = make_tiny(data_folder("data", module), seed=1)
    make_tiny(data_folder("debian", module), seed=2)
    assert_loaded(module.load_data(), in_root)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_debian_when_the_data_root_lacks_files(
    make_tiny, module: ModuleType, data_folder, assert_loaded
) -> None:
    make_tiny(data_folder("data", module), seed=1)
    (data_folder("data", module) / FILE_NAMES[3]).unlink()  # incomplete: skipped
    in_debian = make_tiny(data_folder("debian", module), seed=2)
    assert_loaded(module.load_data(), in_debian)


def test_uncompressed_names_are_accepted(tmp_path: Path, make_tiny, assert_loaded) -> None:
    raw = make_tiny(tmp_path / "raw", seed=5, gz=False)
    assert not any(name.endswith(".gz") for name in os.listdir(tmp_path / "raw"))
    assert_loaded(mnist.load_data(path=tmp_path / "raw"), raw)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_download_last_into_the_data_root_then_cached(
    http_server, module: ModuleType, data_folder, assert_loaded, serve
) -> None:
    expected = serve(module)
    assert_loaded(module.load_data(), expected)
    assert sorted(os.listdir(data_folder("data", module))) == sorted(FILE_NAMES)
    assert all(http_server.hits["/" + name] == 1 for name in FILE_NAMES)
    assert_loaded(module.load_data(), expected)
    assert sum(http_server.hits.values()) == 4  # the second load used the cache


def test_download_fetches_only_what_the_data_root_lacks(
    tmp_path: Path, http_server, data_folder, assert_loaded, serve
) -> None:
    expected = serve(mnist)
    home = data_folder("data", mnist)
    home.mkdir(parents=True)
    for name in FILE_NAMES[:3]:
        (home / name).write_bytes((tmp_path / "served" / name).read_bytes())
    assert_loaded(mnist.load_data(), expected)
    assert dict(http_server.hits) == {"/" + FILE_NAMES[3]: 1}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_explicit_path_without_the_files_never_downloads(
    tmp_path: Path, make_tiny, http_server, module: ModuleType, serve
) -> None:
    serve(module)
    partial = tmp_path / "partial"
    make_tiny(partial)
    (partial / FILE_NAMES[1]).unlink()
    (partial / FILE_NAMES[3]).unlink()
    with pytest.raises(FileNotFoundError) as info:
        module.load_data(path=partial)
    message = str(info.value)
    assert str(partial) in message and FILE_NAMES[1] in message and FILE_NAMES[3] in message
    assert FILE_NAMES[0] not in message
    assert sum(http_server.hits.values()) == 0


def test_mismatched_lengths_are_refused(tmp_path: Path, make_tiny) -> None:
    make_tiny(tmp_path / "bad")
    write_idx(tmp_path / "bad" / FILE_NAMES[3], np.zeros(4, dtype=np.uint8))  # 3 images
    with pytest.raises(DatasetError, match="3 images but 4 labels"):
        mnist.load_data(path=tmp_path / "bad")


@pytest.mark.parametrize(
    ("name", "array", "pattern"),
    [
        (FILE_NAMES[0], np.zeros((5, 28, 27), np.uint8), r"found \(5, 28, 27\) and \(5,\)"),
        (FILE_NAMES[1], np.zeros((5, 1), np.uint8), r"found \(5, 28, 28\) and \(5, 1\)"),
        (FILE_NAMES[0], np.zeros((5, 28, 28), np.float32), "uint8 images and labels"),
    ],
)
def test_wrong_shapes_or_dtypes_are_refused(
    tmp_path: Path, make_tiny, name: str, array: np.ndarray, pattern: str
) -> None:
    make_tiny(tmp_path / "bad")
    write_idx(tmp_path / "bad" / name, array)
    with pytest.raises(DatasetError, match=pattern):
        mnist.load_data(path=tmp_path / "bad")


def test_a_corrupt_file_is_reported_not_skipped(make_tiny, data_folder) -> None:
    make_tiny(data_folder("data", mnist), seed=1)
    make_tiny(data_folder("debian", mnist), seed=2)
    broken = data_folder("data", mnist) / FILE_NAMES[0]
    broken.write_bytes(broken.read_bytes()[:-30])
    with pytest.raises(DatasetError, match=str(broken)):
        mnist.load_data()
