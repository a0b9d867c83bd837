"""fashion_mnist.load_data on tiny IDX files the tests write: the published label names and
file digests, the default root, the digest check of a download, the message that says
where it looked and how to install the data; and the real files when Debian's package is
installed. What both IDX loaders share is tested on both in test_mnist.py."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepdescent.datasets import DatasetError, fashion_mnist, files

pytestmark = pytest.mark.usefixtures("isolated_roots")

FILE_NAMES = fashion_mnist.SPEC.file_names


def test_the_labels_and_files_are_the_published_ones():
    # Xiao, Rasul & Vollgraf (2017), Table 1, and the repository's file list.
    assert fashion_mnist.CLASS_NAMES == (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    spec = fashion_mnist.SPEC
    assert FILE_NAMES == (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
    assert (spec.name, spec.title, spec.debian_package) == (
        "fashion-mnist",
        "Fashion-MNIST",
        "dataset-fashion-mnist",
    )
    assert all(re.fullmatch("[0-9a-f]{64}", spec.sha256[name]) for name in FILE_NAMES)
    assert len(set(spec.sha256.values())) == 4


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_loads_tiny_files_from_a_folder(tmp_path: Path, make_tiny, assert_loaded, gz) -> None:
    expected = make_tiny(tmp_path / "mine", seed=7, gz=gz)
    assert_loaded(fashion_mnist.load_data(path=tmp_path / "mine"), expected)


def test_default_root_when_the_variable_is_unset(
    make_tiny, monkeypatch: pytest.MonkeyPatch, data_folder, assert_loaded
) -> None:
    monkeypatch.delenv("DEEPDESCENT_DATA")
    in_default = make_tiny(data_folder("default", fashion_mnist), seed=4)
    make_tiny(data_folder("debian", fashion_mnist), seed=2)
    assert_loaded(fashion_mnist.load_data(), in_default)


def test_download_with_a_wrong_digest_is_refused(data_folder, serve) -> None:
    serve(fashion_mnist, tamper=FILE_NAMES[2])
    with pytest.raises(DatasetError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    assert FILE_NAMES[2] in message and "SHA-256" in message
    assert fashion_mnist.SPEC.sha256[FILE_NAMES[2]] in message
    assert FILE_NAMES[2] not in os.listdir(data_folder("data", fashion_mnist))


def test_failed_download_says_where_it_looked_and_what_to_do(data_folder) -> None:
    with pytest.raises(DatasetError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    home, debian = data_folder("data", fashion_mnist), data_folder("debian", fashion_mnist)
    assert f"Fashion-MNIST was not found in {home}, {debian}" in message
    assert fashion_mnist.SPEC.base_url + FILE_NAMES[0] in message
    assert f"in {home}" in message and "apt-get install dataset-fashion-mnist" in message
    assert "path=" in message


def test_the_keras_spelling_reaches_the_loader() -> None:
    """``import deepdescent as keras; keras.datasets.fashion_mnist.load_data()``, in a fresh
    interpreter (here the module is already imported, which would hide a missing name)."""
    code = (
        "import deepdescent as keras\n"
        "loader = keras.datasets.fashion_mnist.load_data\n"
        "print(loader.__module__, loader.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["deepdescent.datasets.fashion_mnist", "load_data"]


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
