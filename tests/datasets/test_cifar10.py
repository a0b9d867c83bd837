"""CIFAR-10: Keras's arrays from an archive the test writes in the published layout (a
tar.gz of pickled batches), offline-first look-up, and a refused malicious pickle."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from deepdescent import config
from deepdescent.datasets import DatasetError, cifar10, files


def _write_archive(path: Path, per_batch: int = 3, payload: object | None = None) -> dict:
    """A tiny cifar-10-python.tar.gz: batches with ``per_batch`` images each."""
    rng = np.random.default_rng(0)
    written = {}
    with tarfile.open(path, "w:gz") as archive:
        for name in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"):
            data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, 10, per_batch)]
            written[name] = (data, labels)
            entry = (
                payload
                if payload is not None and name == "test_batch"
                else {
                    b"batch_label": name.encode(),
                    b"labels": labels,
                    b"data": data,
                    b"filenames": [b"x.png"] * per_batch,
                }
            )
            body = pickle.dumps(entry, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return written


def test_keras_shapes_and_channels_last_pixels(tmp_path):
    path = tmp_path / cifar10.FILE_NAME
    written = _write_archive(path)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data(path)
    assert x_train.shape == (15, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (15, 1) and x_test.shape == (3, 32, 32, 3) and y_test.shape == (3, 1)
    first = written["data_batch_1"][0][0]
    # Row-major planes: red 1024 values, then green, then blue.
    np.testing.assert_array_equal(x_train[0, :, :, 1], first[1024:2048].reshape(32, 32))
    np.testing.assert_array_equal(y_test[:, 0], written["test_batch"][1])


def test_channels_first_when_configured(tmp_path):
    path = tmp_path / cifar10.FILE_NAME
    _write_archive(path)
    try:
        config.set_image_data_format("channels_first")
        (x_train, _), _ = cifar10.load_data(path)
    finally:
        config.set_image_data_format("channels_last")
    assert x_train.shape == (15, 3, 32, 32)


def test_found_in_the_data_root_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPDESCENT_DATA", str(tmp_path))
    monkeypatch.setattr(files, "DEBIAN_ROOT", tmp_path / "nowhere")
    (tmp_path / "cifar10").mkdir()
    _write_archive(tmp_path / "cifar10" / cifar10.FILE_NAME)
    (x_train, _), _ = cifar10.load_data()
    assert len(x_train) == 15


def test_a_download_must_have_the_published_digest(tmp_path, monkeypatch, http_server):
    monkeypatch.setenv("DEEPDESCENT_DATA", str(tmp_path / "root"))
    monkeypatch.setattr(files, "DEBIAN_ROOT", tmp_path / "nowhere")
    _write_archive(tmp_path / "fake.tar.gz")
    http_server.routes["/cifar"] = (tmp_path / "fake.tar.gz").read_bytes()
    monkeypatch.setattr(cifar10, "ORIGIN", http_server.url("cifar"))
    with pytest.raises(DatasetError, match=cifar10.SHA256):
        cifar10.load_data()
    assert not (tmp_path / "root" / "cifar10" / cifar10.FILE_NAME).exists()


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo never",))


def test_a_pickle_that_names_code_is_refused(tmp_path):
    path = tmp_path / cifar10.FILE_NAME
    _write_archive(path, payload=_Exploit())
    with pytest.raises(DatasetError, match="refused"):
        cifar10.load_data(path)
