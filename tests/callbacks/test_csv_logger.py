"""CSVLogger's file content, separators and append mode."""

from __future__ import annotations

import csv

import pytest

from deepdescent.callbacks import CSVLogger


def train(logger, model, rows, first_epoch=0):
    logger.set_model(model)
    logger.on_train_begin()
    for offset, logs in enumerate(rows):
        logger.on_epoch_begin(first_epoch + offset)
        logger.on_epoch_end(first_epoch + offset, dict(logs))
    logger.on_train_end()


def read(path, delimiter=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=delimiter))


def test_one_row_per_epoch_with_sorted_columns(model, tmp_path):
    path = tmp_path / "logs" / "training.csv"
    train(
        CSVLogger(path), model, [{"val_loss": 0.9, "loss": 1.25}, {"val_loss": 0.5, "loss": 0.75}]
    )
    assert read(path) == [
        ["epoch", "loss", "val_loss"],
        ["0", "1.25", "0.9"],
        ["1", "0.75", "0.5"],
    ]


def test_a_key_missing_later_is_written_as_na(model, tmp_path):
    path = tmp_path / "log.csv"
    train(CSVLogger(path, separator=";"), model, [{"loss": 1.0, "val_loss": 2.0}, {"loss": 0.5}])
    assert read(path, ";") == [
        ["epoch", "loss", "val_loss"],
        ["0", "1.0", "2.0"],
        ["1", "0.5", "NA"],
    ]


def test_append_adds_rows_without_a_second_header(model, tmp_path):
    path = tmp_path / "log.csv"
    train(CSVLogger(path), model, [{"loss": 1.0}])
    train(CSVLogger(path, append=True), model, [{"loss": 0.5}], first_epoch=1)
    assert read(path) == [["epoch", "loss"], ["0", "1.0"], ["1", "0.5"]]


def test_without_append_the_file_is_overwritten(model, tmp_path):
    path = tmp_path / "log.csv"
    train(CSVLogger(path), model, [{"loss": 1.0}])
    train(CSVLogger(path), model, [{"loss": 0.5}])
    assert read(path) == [["epoch", "loss"], ["0", "0.5"]]


def test_each_row_is_on_disk_before_training_ends(model, tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    logger.set_model(model)
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": 1.0})
    assert read(path) == [["epoch", "loss"], ["0", "1.0"]]
    logger.on_train_end()


def test_bad_separator():
    with pytest.raises(ValueError, match="Invalid separator: ';;'"):
        CSVLogger("x.csv", separator=";;")


def test_config_round_trip(tmp_path):
    logger = CSVLogger(tmp_path / "x.csv", separator="\t", append=True)
    assert CSVLogger(**logger.get_config()).get_config() == logger.get_config()
