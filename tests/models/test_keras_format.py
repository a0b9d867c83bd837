"""Keras 3 ``.keras`` files: files made by Keras 3 itself (``keras_files/``, written by
``make_keras_files.py`` with the predictions Keras made with them) load and predict as
Keras did; models written here read back identically; reading never runs code."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import deepdescent as keras
from deepdescent.models import load_model
from deepdescent.models.keras_format import KerasFileError

FILES = Path(__file__).parent / "keras_files"


@pytest.fixture(scope="module")
def made_by_keras():
    return np.load(FILES / "predictions.npz")


def test_a_sequential_convnet_made_by_keras_predicts_as_keras(made_by_keras):
    model = load_model(FILES / "convnet.keras")
    assert [type(layer).__name__ for layer in model.layers][:3] == [
        "ZeroPadding2D",
        "Conv2D",
        "MaxPooling2D",
    ]
    predicted = model.predict(made_by_keras["images"], verbose=0)
    np.testing.assert_allclose(predicted, made_by_keras["convnet"], atol=1e-6)


def test_a_functional_model_made_by_keras_predicts_as_keras(made_by_keras):
    model = load_model(FILES / "two_heads.keras")
    assert model.name == "two_heads"
    assert [t.name for t in model.inputs] == ["tokens", "series"]
    first, second = model.predict([made_by_keras["tokens"], made_by_keras["series"]], verbose=0)
    np.testing.assert_allclose(first, made_by_keras["first"], atol=1e-6)
    np.testing.assert_allclose(second, made_by_keras["second"], atol=1e-6)


def test_a_loaded_keras_model_trains_after_compile(made_by_keras):
    model = load_model(FILES / "convnet.keras")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = model.get_weights()
    model.fit(made_by_keras["images"], np.array([0, 3]), epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def shared_layer_model():
    keras.utils.set_random_seed(0)
    left, right = keras.Input(shape=(4,), name="left"), keras.Input(shape=(3, 2), name="right")
    shared = keras.layers.Dense(4, activation="relu")
    once = shared(left)
    twice = shared(keras.layers.Dense(4)(keras.layers.GRU(3)(right)))
    merged = keras.layers.concatenate([once, twice])
    return keras.Model(
        [left, right], [keras.layers.Dense(1)(merged), keras.layers.add([once, twice])]
    )


@pytest.mark.parametrize(
    "build, inputs",
    [
        (
            lambda: keras.Sequential(
                [
                    keras.Input(shape=(6, 6, 2)),
                    keras.layers.Conv2D(3, 3, activation="relu", padding="same"),
                    keras.layers.AveragePooling2D(),
                    keras.layers.Flatten(),
                    keras.layers.Dense(2, activation="softmax"),
                ]
            ),
            np.random.default_rng(0).normal(size=(3, 6, 6, 2)).astype("float32"),
        ),
        (
            shared_layer_model,
            [
                np.random.default_rng(1).normal(size=(2, 4)).astype("float32"),
                np.random.default_rng(2).normal(size=(2, 3, 2)).astype("float32"),
            ],
        ),
    ],
    ids=["sequential", "functional-shared-layer"],
)
def test_a_model_written_as_keras_reads_back_identically(tmp_path, build, inputs):
    model = build()
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    for ours, theirs in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    expected = model.predict(inputs, verbose=0)
    got = loaded.predict(inputs, verbose=0)
    for a, b in zip(as_list(expected), as_list(got), strict=True):
        np.testing.assert_array_equal(a, b)


def as_list(outputs):
    return outputs if isinstance(outputs, list) else [outputs]


def test_a_written_file_has_keras_layout(tmp_path):
    keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)]).save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert set(archive.namelist()) == {"config.json", "metadata.json", "model.weights.h5"}
        config = json.loads(archive.read("config.json"))
    assert config["class_name"] == "Sequential"
    assert [entry["class_name"] for entry in config["config"]["layers"]] == ["InputLayer", "Dense"]


def rewritten(source: Path, target: Path, edit) -> Path:
    """``source`` with its config.json passed through ``edit``."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def test_reading_never_runs_code(tmp_path):
    """A Lambda layer holding marshalled code, or a class named by an importable module,
    is refused by name; nothing is imported or called."""
    sentinel = tmp_path / "ran"
    lambda_entry = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {"function": {"class_name": "__lambda__", "config": {"code": "AAAA"}}},
        "registered_name": None,
    }
    system_entry = {
        "module": "os",
        "class_name": "system",
        "config": {"command": f"touch {sentinel}"},
        "registered_name": "os>system",
    }
    for entry in (lambda_entry, system_entry):
        path = rewritten(
            FILES / "convnet.keras",
            tmp_path / "edited.keras",
            lambda config, entry=entry: config["config"]["layers"].insert(1, entry),
        )
        with pytest.raises(KerasFileError, match=entry["class_name"]):
            load_model(path)
    assert not sentinel.exists()


def test_a_file_using_what_deepdescent_lacks_is_refused_naming_it(tmp_path):
    def constrain(config):
        config["config"]["layers"][-1]["config"]["kernel_constraint"] = {
            "module": "keras.constraints",
            "class_name": "MaxNorm",
            "config": {"max_value": 2},
        }

    path = rewritten(FILES / "convnet.keras", tmp_path / "c.keras", constrain)
    with pytest.raises(KerasFileError, match="kernel_constraint"):
        load_model(path)


def test_weights_of_the_wrong_shape_are_refused(tmp_path):
    def widen(config):
        config["config"]["layers"][-1]["config"]["units"] = 5

    path = rewritten(FILES / "convnet.keras", tmp_path / "w.keras", widen)
    with pytest.raises(KerasFileError, match="shape"):
        load_model(path)


def test_a_file_that_is_not_a_keras_archive_is_refused(tmp_path):
    path = tmp_path / "junk.keras"
    path.write_bytes(b"not a zip")
    with pytest.raises(KerasFileError, match=r"not a Keras 3 \.keras file"):
        load_model(path)


def test_a_model_keras_cannot_rebuild_without_code_is_refused_before_writing(tmp_path):
    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    model = Custom()
    model(np.zeros((1, 2), dtype="float32"))
    with pytest.raises(KerasFileError, match="Custom cannot be written"):
        model.save(tmp_path / "m.keras")
    wrapped = keras.layers.TimeDistributed(keras.layers.Dense(1))
    lacking = keras.Sequential([keras.Input(shape=(3, 2)), wrapped])
    with pytest.raises(KerasFileError, match="TimeDistributed cannot be written"):
        lacking.save(tmp_path / "m.keras")
    assert not any(tmp_path.iterdir())


def test_a_compiled_model_written_as_keras_resumes_training_identically(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", metrics=["mae"])
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = 2 * x[:, :1]
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert {"deepdescent/compile.json", "deepdescent/optimizer.json"} <= set(archive.namelist())
    resumed = load_model(tmp_path / "m.keras")
    assert resumed.optimizer.iterations == model.optimizer.iterations == 8
    assert resumed.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    for trained in (model, resumed):
        trained.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for ours, theirs in zip(model.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert not load_model(tmp_path / "m.keras", compile=False).compiled
