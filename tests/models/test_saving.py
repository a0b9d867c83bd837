"""Model files: round trips, atomic writes, and refusal of damaged or foreign files."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile

import numpy as np
import pytest
import torch

from deepdescent.layers import Dense, Dropout
from deepdescent.models import Model, Sequential, load_model
from deepdescent.models.saving import ModelFileError
from deepdescent.optimizers import SGD
from deepdescent.utils import set_random_seed


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, (x[:, :1] > 0).astype("float32")


def trained(epochs=2):
    set_random_seed(0)
    model = Sequential(
        [
            Dense(6, activation="relu", input_shape=(4,), kernel_regularizer="l2"),
            Dropout(0.1),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=SGD(learning_rate=0.1, momentum=0.9),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(*data(), batch_size=16, epochs=epochs, verbose=0)
    return model


def test_round_trip_restores_architecture_weights_and_compile(tmp_path):
    model = trained()
    path = tmp_path / "m.deepdescent"
    model.save(path)
    loaded = load_model(path)
    x, y = data()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config() == model.get_config()
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))
    assert loaded.optimizer.get_config() == model.optimizer.get_config()


def test_training_resumes_identically_from_a_saved_optimizer_state(tmp_path):
    model = trained()
    model.save(tmp_path / "m.deepdescent")
    resumed = load_model(tmp_path / "m.deepdescent")
    assert resumed.optimizer.iterations == model.optimizer.iterations == 8
    x, y = data()
    for m in (model, resumed):
        set_random_seed(1)
        m.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_save_weights_and_load_weights(tmp_path):
    model = trained()
    model.save_weights(tmp_path / "w.safetensors")
    other = Sequential(
        [
            Dense(6, activation="relu", input_shape=(4,)),
            Dropout(0.1),
            Dense(1, activation="sigmoid"),
        ]
    )
    other.load_weights(tmp_path / "w.safetensors")
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.deepdescent"
    trained(epochs=1).save(path)
    before = path.read_bytes()

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    with pytest.raises(OSError, match="disk full"):
        trained(epochs=2).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.deepdescent"]


def test_a_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="not a deepdescent model file"):
        load_model(path)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.deepdescent")


def test_a_tampered_file_is_refused(tmp_path):
    path = tmp_path / "m.deepdescent"
    trained(epochs=1).save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][0]["config"]["units"] = 7
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    with pytest.raises(ModelFileError, match="modified or damaged"):
        load_model(path)


def test_a_truncated_file_is_refused(tmp_path):
    path = tmp_path / "m.deepdescent"
    trained(epochs=1).save(path)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ModelFileError):
        load_model(path)


def test_config_cannot_name_arbitrary_classes(tmp_path):
    path = tmp_path / "m.deepdescent"
    trained(epochs=1).save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][0]["class_name"] = "os.system"
    members["config.json"] = json.dumps(config).encode()
    manifest = json.loads(members["manifest.json"])

    manifest["config.json"] = hashlib.sha256(members["config.json"]).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    with pytest.raises(ModelFileError, match=r"Unknown layer 'os\.system'"):
        load_model(path)


def test_a_wrapped_torch_module_saves_weights_and_says_how_to_load(tmp_path):
    model = Model(torch.nn.Linear(3, 2))
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "m.deepdescent")
    with pytest.raises(ModelFileError, match="load_weights"):
        load_model(tmp_path / "m.deepdescent")
    other = Model(torch.nn.Linear(3, 2))
    other.load_weights(tmp_path / "m.deepdescent")
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["model.h5", "weights.weights.h5", "m.HDF5"])
def test_keras_2_suffixes_are_refused_before_anything_is_written(tmp_path, name):
    from deepdescent.callbacks import ModelCheckpoint

    model = Sequential([Dense(1, input_shape=(2,))])
    path = tmp_path / name
    for call in (model.save, model.save_weights, model.load_weights, load_model):
        with pytest.raises(ValueError, match="Keras 2's HDF5"):
            call(path)
    with pytest.raises(ValueError, match="Keras 2's HDF5"):
        ModelCheckpoint(str(path))
    assert not any(tmp_path.iterdir())


def test_weights_alone_are_never_written_or_read_as_keras_files(tmp_path):
    from deepdescent.callbacks import ModelCheckpoint

    model = Sequential([Dense(1, input_shape=(2,))])
    path = tmp_path / "w.keras"
    for call in (model.save_weights, model.load_weights):
        with pytest.raises(ValueError, match=r"a \.keras file holds a whole model"):
            call(path)
    with pytest.raises(ValueError, match=r"a \.keras file holds a whole model"):
        ModelCheckpoint(str(path), save_weights_only=True)
    assert not any(tmp_path.iterdir())


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rewrite(path, members, sign=True):
    if sign:
        manifest = {
            name: hashlib.sha256(blob).hexdigest()
            for name, blob in members.items()
            if name != "manifest.json"
        }
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)


def test_a_forged_null_config_is_a_model_file_error(tmp_path):
    path = tmp_path / "m.deepdescent"
    trained(epochs=1).save(path)
    members = _members(path)
    config = json.loads(members["config.json"])
    config["config"] = None
    members["config.json"] = json.dumps(config).encode()
    _rewrite(path, members)
    with pytest.raises(ModelFileError, match="its config is None, not an object"):
        load_model(path)


def test_weights_larger_than_the_model_are_refused_before_reading(tmp_path):
    """A small file whose weights member inflates far beyond what the architecture holds."""
    path = tmp_path / "m.deepdescent"
    trained(epochs=1).save(path)
    members = _members(path)
    members["model.safetensors"] = b"\0" * 4 * 2**20
    _rewrite(path, members)
    assert path.stat().st_size < 2**16
    with pytest.raises(ModelFileError, match=r"model\.safetensors .* declares 4194304 bytes"):
        load_model(path)


def test_load_weights_is_all_or_nothing(tmp_path):
    """The last tensor does not fit: no weight may have been written."""
    from safetensors.torch import save_file

    model = trained(epochs=1)
    tensors = {k: v.detach().clone() + 1 for k, v in model.state_dict().items()}
    last = list(tensors)[-1]
    tensors[last] = torch.zeros(5)
    save_file(tensors, tmp_path / "w.safetensors")
    before = model.get_weights()
    with pytest.raises(ModelFileError, match=rf"{last!r} has shape \(5,\) in the file"):
        model.load_weights(tmp_path / "w.safetensors")
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_set_weights_is_all_or_nothing():
    model = trained(epochs=1)
    before = model.get_weights()
    bad = [w + 1 for w in before[:-1]] + [np.zeros(7)]
    with pytest.raises(ValueError, match="the array given has shape"):
        model.set_weights(bad)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_loading_a_model_leaves_the_random_streams_alone(tmp_path):
    trained(epochs=1).save(tmp_path / "m.deepdescent")
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    load_model(tmp_path / "m.deepdescent")
    assert torch.equal(torch.rand(4), expected)


def test_saving_onto_an_existing_folder_says_so(tmp_path):
    (tmp_path / "m.deepdescent").mkdir()
    with pytest.raises(IsADirectoryError, match=r"'.*m\.deepdescent'.* is an existing folder"):
        trained(epochs=1).save(tmp_path / "m.deepdescent")


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_saved_files_get_the_users_umask(tmp_path, mask):
    """As ``open`` would create them (they were 0600 whatever the umask)."""
    model = trained(epochs=1)
    previous = os.umask(mask)
    try:
        model.save(tmp_path / "m.deepdescent")
        model.save(tmp_path / "m.keras")
        model.save_weights(tmp_path / "m.weights.safetensors")
    finally:
        os.umask(previous)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {0o666 & ~mask}
