"""Keras 3 ``.keras`` files: files made by Keras 3 itself (``keras_files/``, written by
``make_keras_files.py`` with the predictions Keras made with them) load and predict as
Keras did; models written here read back identically; reading never runs code."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import deepdescent as keras
from deepdescent.models import load_model
from deepdescent.models.keras_format import KERAS_LAYERS, KerasFileError

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
    residual = keras.layers.Residual(keras.layers.Dense(2))
    lacking = keras.Sequential([keras.Input(shape=(3, 2)), residual])
    with pytest.raises(KerasFileError, match="Residual cannot be written"):
        lacking.save(tmp_path / "m.keras")
    vectorizer = keras.Sequential([keras.layers.TextVectorization(vocabulary=["a", "b"])])
    with pytest.raises(KerasFileError, match=r"TextVectorization cannot be written.*strings"):
        vectorizer.save(tmp_path / "m.keras")
    assert not any(tmp_path.iterdir())


def test_a_compiled_model_written_as_keras_resumes_training_identically(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)]
    )
    optimizer = keras.optimizers.Adam(1e-2, convention="keras")
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
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


# -- normalization, wrappers, 3-D and preprocessing layers --------------------------------


@pytest.mark.parametrize(
    "name, inputs, classes",
    [
        (
            "volumes",
            "clips",
            {
                "Conv3D",
                "BatchNormalization",
                "MaxPooling3D",
                "AveragePooling3D",
                "GlobalAveragePooling3D",
                "GlobalMaxPooling3D",
                "TimeDistributed",
            },
        ),
        (
            "wrapped_sequences",
            "wrapped_series",
            {
                "Bidirectional",
                "TimeDistributed",
                "LayerNormalization",
                "Conv1DTranspose",
                "ZeroPadding1D",
                "Cropping1D",
                "UpSampling1D",
                "Dot",
            },
        ),
        (
            "image_pipeline",
            "pictures",
            {
                "Rescaling",
                "Resizing",
                "RandomFlip",
                "RandomRotation",
                "RandomZoom",
                "RandomTranslation",
                "RandomContrast",
                "CenterCrop",
            },
        ),
    ],
)
def test_more_layers_made_by_keras_predict_as_keras(made_by_keras, name, inputs, classes):
    model = load_model(FILES / f"{name}.keras")
    assert classes <= {type(layer).__name__ for layer in model.layers}
    predicted = model.predict(made_by_keras[inputs], verbose=0)
    np.testing.assert_allclose(predicted, made_by_keras[name], atol=1e-6)


def stored_variables(name: str) -> dict[str, np.ndarray]:
    """The fixture's weights file as Keras wrote it: HDF5 path → array."""
    h5py = pytest.importorskip("h5py")
    with zipfile.ZipFile(FILES / f"{name}.keras") as archive:
        data = archive.read("model.weights.h5")
    found: dict[str, np.ndarray] = {}
    with h5py.File(io.BytesIO(data), "r") as store:
        store.visititems(
            lambda path, item: (
                found.update({path: item[()]}) if isinstance(item, h5py.Dataset) else None
            )
        )
    return found


def numpy_batch_normalization(x, gamma, beta, mean, variance, axis, epsilon=1e-3):
    """Inference: γ(x − moving mean)/√(moving variance + δ) + β along ``axis``."""
    shape = [1] * x.ndim
    shape[axis] = -1

    def along(v):
        return v.reshape(shape)

    return along(gamma) * (x - along(mean)) / np.sqrt(along(variance) + epsilon) + along(beta)


def test_batch_normalization_reads_the_moving_statistics_in_keras_order(made_by_keras):
    """Keras's order is γ, β, moving mean, moving variance (without β when
    ``center=False``); at inference the layer is the NumPy transcription with them."""
    model = load_model(FILES / "volumes.keras")
    stored = stored_variables("volumes")
    x = np.random.default_rng(3).normal(size=(2, 4, 6, 6, 3)).astype("float32")
    gamma, beta, mean, variance = (stored[f"layers/batch_normalization/vars/{i}"] for i in range(4))
    assert not np.allclose(mean, 0) and not np.allclose(variance, 1)
    layer = model.get_layer("batch_normalization").eval()
    got = layer(keras.ops.convert_to_tensor(x)).detach().numpy()
    expected = numpy_batch_normalization(x, gamma, beta, mean, variance, axis=-1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    uncentered = model.get_layer("batch_normalization_1")
    assert uncentered.beta is None
    for index, attribute in enumerate(("gamma", "moving_mean", "moving_variance")):
        np.testing.assert_array_equal(
            getattr(uncentered, attribute).detach().numpy(),
            stored[f"layers/batch_normalization_1/vars/{index}"],
        )


def numpy_lstm(x, kernel, recurrent, bias, reverse=False):
    """Keras's LSTM (Hochreiter & Schmidhuber 1997) over (batch, steps, features), gates
    in Keras's order i, f, c, o: the hidden state at every step, in reading order."""
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    c = np.zeros((x.shape[0], units))
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    outputs = np.zeros((x.shape[0], x.shape[1], units))

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    for t in steps:
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs[:, t] = h
    return outputs


def test_bidirectional_reads_forward_and_backward_lstm_weights_in_keras_order(made_by_keras):
    """The forward layer's kernel, recurrent kernel and bias under ``forward_layer``,
    the backward one's under ``backward_layer``; the backward outputs put back in the
    input's order and concatenated after the forward ones — against a NumPy LSTM."""
    model = load_model(FILES / "wrapped_sequences.keras")
    stored = stored_variables("wrapped_sequences")
    x = made_by_keras["wrapped_series"]
    got = model.get_layer("bidirectional")(keras.ops.convert_to_tensor(x)).detach().numpy()
    halves = [
        numpy_lstm(
            x,
            *(stored[f"layers/bidirectional/{direction}/cell/vars/{i}"] for i in range(3)),
            reverse=direction == "backward_layer",
        )
        for direction in ("forward_layer", "backward_layer")
    ]
    np.testing.assert_allclose(got, np.concatenate(halves, axis=-1), atol=1e-6)


def numpy_conv3d_same(x, kernel, bias):
    """Keras's channels-last 3-D convolution, ``padding="same"``, stride 1: kernel
    ``(kd, kh, kw, in, out)``; each axis padded (k − 1)//2 before, the rest after."""
    pads = [(0, 0)] + [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel.shape[:3]] + [(0, 0)]
    padded = np.pad(x, pads)
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape[:3], axis=(1, 2, 3))
    return np.einsum("bdhwcijk,ijkco->bdhwo", windows, kernel) + bias


def test_conv3d_reads_keras_channels_last_kernel(made_by_keras):
    model = load_model(FILES / "volumes.keras")
    stored = stored_variables("volumes")
    kernel, bias = stored["layers/conv3d/vars/0"], stored["layers/conv3d/vars/1"]
    assert kernel.shape == (2, 3, 1, 2, 3)
    x = made_by_keras["clips"]
    got = model.get_layer("conv3d")(keras.ops.convert_to_tensor(x)).detach().numpy()
    expected = np.maximum(numpy_conv3d_same(x, kernel, bias), 0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def trained_model_of_every_new_layer():
    """A functional model with each layer added to the table since the first fixtures,
    trained a little so the moving statistics are not their starting values."""
    keras.utils.set_random_seed(0)
    layers = keras.layers
    clips = keras.Input(shape=(3, 4, 4, 2))
    volume = layers.Conv3D(2, (2, 1, 2), padding="same")(clips)
    volume = layers.BatchNormalization(momentum=0.5)(volume)
    volume = layers.AveragePooling3D((1, 2, 2))(layers.MaxPooling3D((1, 1, 1))(volume))
    frames = layers.TimeDistributed(layers.Flatten())(clips)
    frames = layers.Bidirectional(layers.LSTM(2, return_sequences=True), merge_mode="mul")(frames)
    frames = layers.LayerNormalization()(frames)
    frames = layers.Conv1DTranspose(2, 2)(layers.UpSampling1D(2)(frames))
    frames = layers.Cropping1D((1, 0))(layers.ZeroPadding1D((0, 1))(frames))
    pictures = keras.Input(shape=(6, 6, 1))
    images = layers.Resizing(4, 4)(layers.Rescaling(2.0)(pictures))
    images = layers.CenterCrop(3, 3)(layers.RandomFlip("horizontal", seed=1)(images))
    images = layers.RandomContrast(0.3)(layers.RandomZoom(0.2)(images))
    images = layers.RandomTranslation(0.1, 0.1)(layers.RandomRotation(0.2)(images))
    summaries = [
        layers.GlobalAveragePooling3D()(volume),
        layers.GlobalMaxPooling3D()(volume),
        layers.Bidirectional(layers.GRU(2))(frames),
        layers.Flatten()(images),
    ]
    merged = layers.concatenate(summaries)
    dotted = layers.Dot(axes=1)([merged, merged])
    model = keras.Model([clips, pictures], layers.Dense(1)(layers.concatenate([merged, dotted])))
    rng = np.random.default_rng(4)
    inputs = [
        rng.normal(size=(6, 3, 4, 4, 2)).astype("float32"),
        rng.normal(size=(6, 6, 6, 1)).astype("float32"),
    ]
    model.compile(optimizer="sgd", loss="mse")
    model.fit(inputs, rng.normal(size=(6, 1)).astype("float32"), batch_size=3, verbose=0)
    return model, inputs


def test_a_model_of_the_new_layers_reads_back_identically(tmp_path):
    model, inputs = trained_model_of_every_new_layer()
    assert not np.allclose(model.get_layer("batch_normalization").moving_mean.numpy(), 0)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    for ours, theirs in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(
        model.predict(inputs, verbose=0), loaded.predict(inputs, verbose=0)
    )


@pytest.mark.parametrize(
    "fixture, class_name, key, value",
    [
        ("volumes", "BatchNormalization", "renorm", True),
        ("wrapped_sequences", "LayerNormalization", "rms_scaling", True),
        ("image_pipeline", "Resizing", "antialias", True),
    ],
)
def test_a_keras_setting_deepdescent_does_not_compute_is_refused_naming_it(
    tmp_path, fixture, class_name, key, value
):
    def edit(config):
        entry = next(e for e in config["config"]["layers"] if e["class_name"] == class_name)
        entry["config"][key] = value

    path = rewritten(FILES / f"{fixture}.keras", tmp_path / "e.keras", edit)
    with pytest.raises(KerasFileError, match=f"{class_name} with {key}=True"):
        load_model(path)


def test_a_keras_text_vectorization_is_refused_saying_why(tmp_path):
    entry = {
        "module": "keras.layers",
        "class_name": "TextVectorization",
        "config": {"max_tokens": 10},
        "registered_name": None,
    }
    path = rewritten(
        FILES / "image_pipeline.keras",
        tmp_path / "t.keras",
        lambda config: config["config"]["layers"].insert(1, entry),
    )
    with pytest.raises(KerasFileError, match=r"TextVectorization.*strings"):
        load_model(path)


def test_every_layer_both_libraries_have_is_read_and_written_or_refused_saying_why():
    """Against Keras 3's own list of its layer classes (written by make_keras_files.py)."""
    lines = (FILES / "keras_layer_names.txt").read_text().splitlines()
    theirs = {line for line in lines if line and not line.startswith("#")}
    ours = {
        name
        for name in keras.layers.__all__
        if isinstance(getattr(keras.layers, name), type)
        and issubclass(getattr(keras.layers, name), keras.layers.Layer)
    }
    both = (ours & theirs) - {"Layer"}
    assert len(both) > 60
    assert both - set(KERAS_LAYERS) == {"TextVectorization"}
    assert set(KERAS_LAYERS) <= theirs


@pytest.mark.parametrize("name", ["two_heads", "volumes", "wrapped_sequences"])
def test_the_layers_are_ordered_as_keras_orders_them(name):
    """The order names the weights' groups and orders Keras's optimizer variables: for
    a model written here it is computed as Keras 3's ``map_graph`` does, checked against
    the order Keras wrote in its own files' configs."""
    from deepdescent.models.keras_format import _keras_layer_order

    with zipfile.ZipFile(FILES / f"{name}.keras") as archive:
        config = json.loads(archive.read("config.json"))
    keras_order = [entry["name"] for entry in config["config"]["layers"]]
    model = load_model(FILES / f"{name}.keras", compile=False)
    assert [layer.name for layer in model.graph.layers] != keras_order
    assert [layer.name for layer in _keras_layer_order(model.graph)] == keras_order
