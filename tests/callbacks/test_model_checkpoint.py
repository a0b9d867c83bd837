"""ModelCheckpoint: when it saves, under which name, and what a failed save leaves."""

from __future__ import annotations

import io
import os
import zipfile

import pytest
import torch

from deepdescent.callbacks import LazyLogs, ModelCheckpoint
from deepdescent.layers import Dense
from deepdescent.models import Sequential


def test_saves_every_epoch_with_formatted_names(model, fit, tmp_path):
    pattern = str(tmp_path / "ckpt" / "{epoch:02d}-{val_loss:.2f}.model")
    fit(ModelCheckpoint(pattern), model, [0.5, 0.6, 0.4])
    names = ["01-0.50.model", "02-0.60.model", "03-0.40.model"]
    assert model.saved == [("save", str(tmp_path / "ckpt" / name)) for name in names]
    assert sorted(os.listdir(tmp_path / "ckpt")) == names


def test_save_best_only_saves_on_improvement_only(model, fit, tmp_path):
    pattern = str(tmp_path / "{epoch}.model")
    fit(ModelCheckpoint(pattern, save_best_only=True), model, [0.5, 0.6, 0.4, 0.45])
    assert [os.path.basename(path) for _, path in model.saved] == ["1.model", "3.model"]


def test_save_best_only_for_a_maximized_metric_and_a_threshold(model, fit, tmp_path):
    callback = ModelCheckpoint(
        str(tmp_path / "{epoch}.model"),
        monitor="val_accuracy",
        save_best_only=True,
        initial_value_threshold=0.55,
    )
    fit(callback, model, [0.5, 0.6, 0.58, 0.7], key="val_accuracy")
    assert [os.path.basename(path) for _, path in model.saved] == ["2.model", "4.model"]


def test_save_weights_only_calls_save_weights(model, fit, tmp_path):
    path = str(tmp_path / "best.weights.safetensors")
    fit(ModelCheckpoint(path, save_weights_only=True), model, [0.5])
    assert model.saved == [("save_weights", path)]


def test_batch_frequency_counts_across_epochs_and_reads_only_named_fields(model, tmp_path):
    reads = []
    callback = ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}-{loss:.1f}.model"), save_freq=2)
    callback.set_model(model)
    callback.on_train_begin()
    for epoch in range(2):
        callback.on_epoch_begin(epoch)
        for batch in range(5):
            logs = LazyLogs(
                {"loss": lambda: reads.append(1) or 0.5, "accuracy": lambda: reads.append(2) or 0.9}
            )
            callback.on_train_batch_end(batch, logs)
        callback.on_epoch_end(epoch, {"loss": 0.5})
    names = [os.path.basename(path) for _, path in model.saved]
    assert names == [f"e{e}-b{b}-0.5.model" for e, b in [(1, 2), (1, 4), (2, 1), (2, 3), (2, 5)]]
    assert reads == [1] * 5  # "accuracy" is never read: it is not in the file name


def test_a_failing_save_propagates_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """With a real model: the second epoch's save fails half-way; the error reaches the
    caller and the first epoch's file is intact, with no partial file beside it."""
    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    path = tmp_path / "best.model"
    callback = ModelCheckpoint(str(path))
    callback.set_model(model)
    callback.on_epoch_end(0, {"val_loss": 1.0})
    before = path.read_bytes()

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    with torch.no_grad():
        model.layers[0].kernel.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        callback.on_epoch_end(1, {"val_loss": 0.5})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["best.model"]


def test_missing_format_field_is_a_clear_error(model, tmp_path):
    callback = ModelCheckpoint(str(tmp_path / "{epoch}-{val_acc:.2f}.model"))
    callback.set_model(model)
    with pytest.raises(KeyError, match="no 'val_acc' among the fields epoch, loss, val_loss"):
        callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.0})


def test_a_directory_as_filepath_is_refused(model, tmp_path):
    callback = ModelCheckpoint(str(tmp_path))
    callback.set_model(model)
    with pytest.raises(IsADirectoryError, match="existing directory"):
        callback.on_epoch_end(0, {"val_loss": 1.0})


def test_missing_monitor_saves_anyway_with_a_warning(model, tmp_path):
    callback = ModelCheckpoint(str(tmp_path / "m.model"), save_best_only=True)
    callback.set_model(model)
    with pytest.warns(UserWarning, match="`val_loss` which is not available. .*loss"):
        callback.on_epoch_end(0, {"loss": 1.0})
    assert len(model.saved) == 1


def test_verbose_messages(model, fit, tmp_path):
    stream = io.StringIO()
    path = str(tmp_path / "m.model")
    callback = ModelCheckpoint(path, save_best_only=True, verbose=1, stream=stream)
    fit(callback, model, [0.5, 0.7])
    assert stream.getvalue() == (
        f"\nEpoch 1: val_loss improved from inf to 0.50000, saving model to {path}\n"
        f"\nEpoch 1: finished saving model to {path}\n"
        "\nEpoch 2: val_loss did not improve from 0.50000\n"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"save_freq": "batch"}, "Invalid save_freq: 'batch'"),
        ({"save_freq": 0}, "Invalid save_freq: 0"),
        ({"save_weights_only": True}, "Invalid filepath: 'm.model' .*ending in .safetensors"),
        ({"mode": "best"}, "Invalid mode: 'best'"),
        ({"save_best_only": True, "monitor": "val_things"}, "pass mode='min' or mode='max'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelCheckpoint("m.model", **kwargs)


def test_config_round_trip():
    callback = ModelCheckpoint("x.model", monitor="loss", save_best_only=True, save_freq=10)
    assert ModelCheckpoint(**callback.get_config()).get_config() == callback.get_config()
