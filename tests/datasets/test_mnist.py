"""mnist / fashion_mnist.load_data: the search order, the download, the checks, real data."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from deepdescent.datasets import DatasetError, fashion_mnist, files, mnist, write_idx

FILE_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MODULES = [mnist, fashion_mnist]


@pytest.fixture(autouse=True)
def isolated_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every root at the test's folder and every origin at a file:// address that
    does not exist, so that no test reads the machine's data or reaches the network."""
    monkeypatch.setenv("DEEPDESCENT_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(files, "DEFAULT_DATA_ROOT", tmp_path / "default")
    monkeypatch.setattr(files, "DEBIAN_ROOT", tmp_path / "debian")
    for module in MODULES:
        offline = (tmp_path / "offline").as_uri() + "/"
        monkeypatch.setattr(module, "SPEC", dataclasses.replace(module.SPEC, base_url=offline))


def assert_loaded(got: tuple, expected: tuple) -> None:
    (x_train, y_train), (x_test, y_test) = got
    arrays = (x_train, y_train, x_test, y_test)
    for array, reference in zip(arrays, (*expected[0], *expected[1]), strict=True):
        assert array.dtype == np.uint8
        np.testing.assert_array_equal(array, reference)


def folder(tmp_path: Path, root: str, module: ModuleType) -> Path:
    return tmp_path / root / module.SPEC.name


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_explicit_path_comes_first(tmp_path: Path, make_tiny, module: ModuleType) -> None:
    make_tiny(folder(tmp_path, "data", module), seed=1)
    make_tiny(folder(tmp_path, "debian", module), seed=2)
    mine = make_tiny(tmp_path / "mine", seed=3)
    assert_loaded(module.load_data(path=tmp_path / "mine"), mine)
    assert_loaded(module.load_data(path=str(tmp_path / "mine")), mine)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_data_root_comes_before_debian(tmp_path: Path, make_tiny, module: ModuleType) -> None:
    in_root = make_tiny(folder(tmp_path, "data", module), seed=1)
    make_tiny(folder(tmp_path, "debian", module), seed=2)
    assert_loaded(module.load_data(), in_root)


def test_default_root_when_the_variable_is_unset(
    tmp_path: Path, make_tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEEPDESCENT_DATA")
    in_default = make_tiny(folder(tmp_path, "default", fashion_mnist), seed=4)
    make_tiny(folder(tmp_path, "debian", fashion_mnist), seed=2)
    assert_loaded(fashion_mnist.load_data(), in_default)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_debian_when_the_data_root_lacks_files(
    tmp_path: Path, make_tiny, module: ModuleType
) -> None:
    make_tiny(folder(tmp_path, "data", module), seed=1)
    (folder(tmp_path, "data", module) / FILE_NAMES[3]).unlink()  # incomplete: skipped
    in_debian = make_tiny(folder(tmp_path, "debian", module), seed=2)
    assert_loaded(module.load_data(), in_debian)


def test_uncompressed_names_are_accepted(tmp_path: Path, make_tiny) -> None:
    raw = make_tiny(tmp_path / "raw", seed=5, gz=False)
    assert not any(name.endswith(".gz") for name in os.listdir(tmp_path / "raw"))
    assert_loaded(mnist.load_data(path=tmp_path / "raw"), raw)


def serve(tmp_path: Path, make_tiny, http_server, module, monkeypatch, seed=6, tamper=None):
    """Serve a tiny data set and point ``module.SPEC`` at it, with its true digests."""
    expected = make_tiny(tmp_path / "served", seed=seed)
    digests = {}
    for name in FILE_NAMES:
        body = (tmp_path / "served" / name).read_bytes()
        digests[name] = hashlib.sha256(body).hexdigest()
        http_server.routes["/" + name] = body + b"x" if name == tamper else body
    spec = dataclasses.replace(module.SPEC, base_url=http_server.url(""), sha256=digests)
    monkeypatch.setattr(module, "SPEC", spec)
    return expected


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_download_last_into_the_data_root_then_cached(
    tmp_path: Path, make_tiny, http_server, module: ModuleType, monkeypatch
) -> None:
    expected = serve(tmp_path, make_tiny, http_server, module, monkeypatch)
    assert_loaded(module.load_data(), expected)
    assert sorted(os.listdir(folder(tmp_path, "data", module))) == sorted(FILE_NAMES)
    assert all(http_server.hits["/" + name] == 1 for name in FILE_NAMES)
    assert_loaded(module.load_data(), expected)
    assert sum(http_server.hits.values()) == 4  # the second load used the cache


def test_download_fetches_only_what_the_data_root_lacks(
    tmp_path: Path, make_tiny, http_server, monkeypatch
) -> None:
    expected = serve(tmp_path, make_tiny, http_server, mnist, monkeypatch)
    home = folder(tmp_path, "data", mnist)
    home.mkdir(parents=True)
    for name in FILE_NAMES[:3]:
        (home / name).write_bytes((tmp_path / "served" / name).read_bytes())
    assert_loaded(mnist.load_data(), expected)
    assert dict(http_server.hits) == {"/" + FILE_NAMES[3]: 1}


def test_download_with_a_wrong_digest_is_refused(
    tmp_path: Path, make_tiny, http_server, monkeypatch
) -> None:
    serve(tmp_path, make_tiny, http_server, fashion_mnist, monkeypatch, tamper=FILE_NAMES[2])
    with pytest.raises(DatasetError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    assert FILE_NAMES[2] in message and "SHA-256" in message
    assert fashion_mnist.SPEC.sha256[FILE_NAMES[2]] in message
    assert FILE_NAMES[2] not in os.listdir(folder(tmp_path, "data", fashion_mnist))


def test_failed_download_says_where_it_looked_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    home, debian = (
        folder(tmp_path, "data", fashion_mnist),
        folder(tmp_path, "debian", fashion_mnist),
    )
    assert f"Fashion-MNIST was not found in {home}, {debian}" in message
    assert fashion_mnist.SPEC.base_url + FILE_NAMES[0] in message
    assert f"in {home}" in message and "apt-get install dataset-fashion-mnist" in message
    assert "path=" in message


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_explicit_path_without_the_files_never_downloads(
    tmp_path: Path, make_tiny, http_server, module: ModuleType, monkeypatch
) -> None:
    serve(tmp_path, make_tiny, http_server, module, monkeypatch)
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


def test_a_corrupt_file_is_reported_not_skipped(tmp_path: Path, make_tiny) -> None:
    make_tiny(folder(tmp_path, "data", mnist), seed=1)
    make_tiny(folder(tmp_path, "debian", mnist), seed=2)
    broken = folder(tmp_path, "data", mnist) / FILE_NAMES[0]
    broken.write_bytes(broken.read_bytes()[:-30])
    with pytest.raises(DatasetError, match=str(broken)):
        mnist.load_data()


def test_keras_import_line() -> None:
    from deepdescent.datasets import fashion_mnist as keras_mnist

    assert keras_mnist.load_data is fashion_mnist.load_data
    assert len(fashion_mnist.CLASS_NAMES) == 10


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
# SHA-256 of the un-gzipped published Fashion-MNIST files: Debian recompressed the .gz
# files, so their own digests differ from the published ones, but the data must not.
PUBLISHED_PAYLOAD_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


@pytest.mark.realdata
@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(),
    reason=f"{DEBIAN_FASHION} is absent (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_from_debian(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "DEBIAN_ROOT", DEBIAN_FASHION.parent)
    for name, digest in PUBLISHED_PAYLOAD_SHA256.items():
        payload = gzip.decompress((DEBIAN_FASHION / f"{name}.gz").read_bytes())
        assert hashlib.sha256(payload).hexdigest() == digest, name
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert y_train.min() == 0 and y_train.max() == 9
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    # Pixel sums computed once from these files; the mean and spread match the
    # normalization constants the field uses for Fashion-MNIST (0.2860, 0.3530).
    assert int(x_train.sum(dtype=np.int64)) == 3431114169
    assert int(x_test.sum(dtype=np.int64)) == 573469082
    scaled = x_train / 255.0
    assert abs(scaled.mean() - 0.2860) < 5e-5 and abs(scaled.std() - 0.3530) < 5e-5
    assert y_train[0] == 9 and y_test[0] == 9  # both splits open with an ankle boot
