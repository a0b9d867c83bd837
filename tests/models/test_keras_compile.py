"""Keras 3's compile settings in ``.keras`` files: a file Keras compiled loads compiled,
with its optimizer's state, and trains on as Keras trained it (``keras_files/compiled_*
.keras``, saved by Keras after one training step, with the predictions Keras made after
two more); a compiled model written here carries a
``compile_config`` that reads back as the same optimizer; whatever has no equivalent is
named in a warning and the model is left uncompiled, never approximated."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import deepdescent as keras
from deepdescent.models import load_model
from deepdescent.models.keras_compile import KerasCompileWarning

FILES = Path(__file__).parent / "keras_files"


@pytest.fixture(scope="module")
def made_by_keras():
    return np.load(FILES / "predictions.npz")


_SPARSE = "sparse_categorical_crossentropy"


@pytest.mark.parametrize(
    "name, optimizer, settings, loss",
    [
        (
            "compiled_adam",
            keras.optimizers.Adam,
            {"lr": 0.01, "betas": (0.8, 0.999), "eps": 1e-7, "amsgrad": True, "eps_hat": True},
            "SparseCategoricalCrossentropy",
        ),
        (
            "compiled_rmsprop",
            keras.optimizers.RMSprop,
            {"lr": 0.01, "alpha": 0.8, "momentum": 0.5, "eps": 1e-7},
            "sparse_categorical_crossentropy",
        ),
        ("compiled_adagrad", keras.optimizers.Adagrad, {"lr": 0.1, "eps": 1e-7}, _SPARSE),
        ("compiled_adadelta", keras.optimizers.Adadelta, {"lr": 1.0, "rho": 0.9}, _SPARSE),
        ("compiled_adamax", keras.optimizers.Adamax, {"lr": 0.05, "eps": 1e-7}, _SPARSE),
        ("compiled_nadam", keras.optimizers.NAdam, {"lr": 0.05, "eps": 1e-7}, _SPARSE),
        (
            "compiled_lion",
            keras.optimizers.Lion,
            {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
            _SPARSE,
        ),
        (
            "compiled_sgd",
            keras.optimizers.SGD,
            {
                "lr": 0.05,
                "momentum": 0.9,
                "nesterov": True,
                "weight_decay": 0.01,
                "decoupled_weight_decay": True,
            },
            "mse",
        ),
    ],
)
def test_a_model_keras_compiled_loads_compiled_and_trains_as_keras(
    made_by_keras, name, optimizer, settings, loss
):
    model = load_model(FILES / f"{name}.keras")
    assert model.compiled and isinstance(model.optimizer, optimizer)
    config = model.optimizer.get_config()
    assert {k: config[k] for k in settings} == settings
    compiled_loss = model.compile_config()["loss"]
    assert (
        compiled_loss if isinstance(compiled_loss, str) else compiled_loss["class_name"]
    ) == loss
    assert model.optimizer.iterations == 1  # the state Keras kept after its step
    x, labels = made_by_keras["compiled_x"], made_by_keras["compiled_labels"]
    y = np.eye(2, dtype="float32")[labels] if name == "compiled_sgd" else labels
    before = model.predict(x, verbose=0)
    for _ in range(2):
        model.train_on_batch(x, y)
    after = model.predict(x, verbose=0)
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, made_by_keras[name], atol=1e-5)
    assert not load_model(FILES / f"{name}.keras", compile=False).compiled


def edited(tmp_path: Path, edit) -> Path:
    """compiled_adam.keras with its compile_config passed through ``edit``."""
    with zipfile.ZipFile(FILES / "compiled_adam.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config["compile_config"])
    members["config.json"] = json.dumps(config).encode()
    path = tmp_path / "edited.keras"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def set_entry(key, value):
    return lambda compile_config: compile_config.__setitem__(key, value)


def set_optimizer_argument(key, value):
    return lambda compile_config: compile_config["optimizer"]["config"].__setitem__(key, value)


@pytest.mark.parametrize(
    "edit, named",
    [
        (set_entry("optimizer", {"class_name": "Ftrl", "config": {}}), "optimizer Ftrl"),
        (set_optimizer_argument("loss_scale_factor", 128.0), "loss_scale_factor=128.0"),
        (set_entry("loss", {"class_name": "Tversky", "config": {}}), "loss Tversky"),
        (set_entry("loss", "dice"), "dice"),
        (set_entry("metrics", [{"class_name": "F1Score", "config": {}}]), "metric F1Score"),
        (set_entry("weighted_metrics", ["mae"]), "weighted_metrics"),
        (
            set_optimizer_argument(
                "learning_rate", {"class_name": "WarmUpCosine", "config": {"steps": 3}}
            ),
            "schedule WarmUpCosine",
        ),
    ],
)
def test_keras_settings_without_equivalent_are_named_and_the_model_left_uncompiled(
    tmp_path, edit, named
):
    with pytest.warns(KerasCompileWarning, match=f"loaded uncompiled.*{named}"):
        model = load_model(edited(tmp_path, edit))
    assert not model.compiled


def test_keras_arguments_deepdescent_lacks_are_read_at_keras_defaults_only(tmp_path):
    def crossentropy_on(axis):
        def edit(compile_config):
            compile_config["loss"] = {
                "class_name": "CategoricalCrossentropy",
                "config": {"from_logits": True, "axis": axis, "dtype": "float32"},
            }

        return edit

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model(edited(tmp_path, crossentropy_on(-1))).compiled
    with pytest.warns(KerasCompileWarning, match="axis"):
        assert not load_model(edited(tmp_path, crossentropy_on(1))).compiled


def written_compiled(tmp_path: Path, optimizer, loss="mse", metrics=("mae",)) -> Path:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))
    model.save(tmp_path / "m.keras")
    return tmp_path / "m.keras"


def keras_part_only(path: Path) -> Path:
    """The file without deepdescent's own members: what Keras reads."""
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist() if not n.startswith("deep")}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "optimizer, keras_name, keras_settings",
    [
        (
            keras.optimizers.Adam(0.02, beta_1=0.7, amsgrad=True, convention="keras"),
            "Adam",
            {"learning_rate": 0.02, "beta_1": 0.7, "epsilon": 1e-7, "amsgrad": True},
        ),
        (
            keras.optimizers.RMSprop(0.01, rho=0.8, centered=True, convention="keras"),
            "RMSprop",
            {"learning_rate": 0.01, "rho": 0.8, "centered": True, "epsilon": 1e-7},
        ),
        (
            keras.optimizers.SGD(0.1, momentum=0.5, weight_decay=1e-3, decoupled_weight_decay=True),
            "SGD",
            {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 1e-3},
        ),
        (
            keras.optimizers.AdamW(
                keras.schedules.ExponentialDecay(0.1, 10, 0.5), convention="keras"
            ),
            "AdamW",
            {"weight_decay": 0.004},
        ),
        (keras.optimizers.NAdam(convention="keras"), "Nadam", {"beta_2": 0.999}),
    ],
)
def test_a_compiled_model_written_here_carries_keras_compile_config(
    tmp_path, optimizer, keras_name, keras_settings
):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = written_compiled(
            tmp_path, optimizer, keras.losses.Huber(delta=0.5), ["mae", keras.metrics.AUC()]
        )
    with zipfile.ZipFile(path) as archive:
        written = json.loads(archive.read("config.json"))["compile_config"]
    assert written["optimizer"]["class_name"] == keras_name
    config = written["optimizer"]["config"]
    assert {k: config[k] for k in keras_settings} == keras_settings
    assert written["loss"]["module"] == "keras.losses"
    assert written["loss"]["config"]["delta"] == 0.5
    assert written["metrics"][0] == "mae" and written["metrics"][1]["class_name"] == "AUC"
    loaded = load_model(keras_part_only(path))
    assert loaded.compiled and type(loaded.optimizer) is type(optimizer)
    assert loaded.optimizer.get_config() == optimizer.get_config()


@pytest.mark.parametrize(
    "optimizer, named",
    [
        (keras.optimizers.Adam(0.01), "Adam with eps_hat=False"),
        (keras.optimizers.SGD(0.1, weight_decay=0.01), "SGD with decoupled_weight_decay=False"),
        (keras.optimizers.Rprop(), "optimizer Rprop"),
    ],
)
def test_an_optimizer_keras_lacks_is_named_and_no_compile_config_written(
    tmp_path, optimizer, named
):
    with pytest.warns(
        KerasCompileWarning, match=f"Keras 3 will load this model uncompiled.*{named}"
    ):
        path = written_compiled(tmp_path, optimizer)
    with zipfile.ZipFile(path) as archive:
        assert "compile_config" not in json.loads(archive.read("config.json"))
    assert load_model(path).compiled  # from deepdescent's own members
    assert not load_model(keras_part_only(path)).compiled


def test_an_optimizer_state_that_is_not_read_is_named(tmp_path, made_by_keras):
    """Adamax's state is not read: the model is compiled, and the warning says that
    training resumes from a fresh state."""

    def adamax(compile_config):
        compile_config["optimizer"]["class_name"] = "Adamax"
        del compile_config["optimizer"]["config"]["amsgrad"]

    with pytest.warns(KerasCompileWarning, match="Adamax kept over 1 steps is not read"):
        model = load_model(edited(tmp_path, adamax))
    assert model.compiled and model.optimizer.iterations == 0


@pytest.mark.parametrize(
    "optimizer",
    [
        keras.optimizers.Adam(0.01, amsgrad=True, convention="keras"),
        keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True, convention="keras"),
        keras.optimizers.NAdam(0.01, convention="keras"),
        keras.optimizers.Adadelta(1.0, convention="keras"),
    ],
    ids=lambda optimizer: type(optimizer).__name__,
)
def test_the_optimizer_state_written_as_keras_variables_reads_back(tmp_path, optimizer):
    """Through Keras's optimizer variables alone (deepdescent's members removed), the
    state read back continues training as the model that wrote it."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(shape=(3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)]
    )
    model.compile(optimizer=optimizer, loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
    for _ in range(3):
        model.train_on_batch(x, y)
    model.save(tmp_path / "m.keras")
    resumed = load_model(keras_part_only(tmp_path / "m.keras"))
    assert resumed.optimizer.iterations == 3
    for trained in (model, resumed):
        trained.train_on_batch(x, y)
    for ours, theirs in zip(model.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def test_a_branching_model_keras_trained_resumes_as_keras(made_by_keras):
    """Keras's optimizer variables follow its own order of the layers, not the order of
    their calls, and each wrapper's inner layers (forward, then backward): read in that
    order, SGD's momentum of every weight resumes as in Keras."""
    model = load_model(FILES / "compiled_branches.keras")
    assert model.optimizer.iterations == 1
    x, y = made_by_keras["branches_x"], made_by_keras["branches_y"]
    before = model.predict(x, verbose=0)
    for _ in range(2):
        model.train_on_batch(x, y)
    after = model.predict(x, verbose=0)
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, made_by_keras["compiled_branches"], atol=1e-5)
