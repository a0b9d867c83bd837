"""`deepdescent train`: the recipe end to end, on tiny IDX files and on the real data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepdescent import optimizers
from deepdescent.cli import main
from deepdescent.models import load_model

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_train_writes_a_run_folder(tiny_fashion, tmp_path, capsys):
    out = tmp_path / "run"
    main(
        [
            "train",
            "--data-dir",
            str(tiny_fashion),
            "--epochs",
            "8",
            "--batch-size",
            "16",
            "--lr",
            "0.5",
            "--output",
            str(out),
            "--verbose",
            "2",
        ]
    )
    printed = capsys.readouterr().out
    assert "Epoch 8/8" in printed and "test accuracy:" in printed
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 8 and history["loss"][-1] < history["loss"][0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["results"]["test_accuracy"] > 0.5
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load_model(out / "model.deepdescent")
    assert [w.shape for w in model.get_weights()] == [(784, 32), (32,), (32, 10), (10,)]
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == 9
    assert float(rows[-1].split(",")[rows[0].split(",").index("loss")]) == pytest.approx(
        history["loss"][-1], rel=1e-6
    )
    assert not (out / "tensorboard").exists()


def test_tensorboard_flag_writes_event_files(tiny_fashion, tmp_path):
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator",
        reason="--tensorboard needs the tensorboard package",
    )
    out = tmp_path / "run"
    arguments = [
        "train",
        "--data-dir",
        str(tiny_fashion),
        "--epochs",
        "2",
        "--output",
        str(out),
        "--verbose",
        "0",
        "--tensorboard",
    ]
    main(arguments)
    reader = accumulator.EventAccumulator(str(out / "tensorboard" / "train"))
    reader.Reload()
    history = json.loads((out / "history.json").read_text())
    values = [e.value for e in reader.Scalars("epoch_loss")]
    np.testing.assert_allclose(values, history["loss"], rtol=1e-6)


def test_flags_change_the_recipe(tiny_fashion, tmp_path):
    out = tmp_path / "run"
    main(
        [
            "train",
            "--data-dir",
            str(tiny_fashion),
            "--epochs",
            "1",
            "--hidden",
            "16",
            "8",
            "--activation",
            "relu",
            "--output",
            str(out),
            "--verbose",
            "0",
            "--raw-pixels",
        ]
    )
    model = load_model(out / "model.deepdescent")
    assert [w.shape for w in model.get_weights()][::2] == [(784, 16), (16, 8), (8, 10)]
    assert json.loads((out / "metrics.json").read_text())["config"]["raw_pixels"] is True


def test_bad_flags_are_reported(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--epochs", "0"])
    assert "expected a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--validation-split", "1.5"])
    assert "--validation-split must be in [0, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="Unknown optimizer"):
        main(["train", "--optimizer", "nope", "--data-dir", "/nonexistent", "--verbose", "0"])


@pytest.mark.realdata
@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_console_script_on_real_fashion_mnist(tmp_path):
    """The installed `deepdescent` command, briefly, on the real files."""
    out = tmp_path / "run"
    env = {**os.environ, "DEEPDESCENT_DATA": str(tmp_path / "nothing-here")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "deepdescent.cli",
            "train",
            "--epochs",
            "1",
            "--limit",
            "6000",
            "--lr",
            "0.5",
            "--output",
            str(out),
            "--verbose",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    assert "━" in done.stdout and "test accuracy:" in done.stdout
    results = json.loads((out / "metrics.json").read_text())["results"]
    assert results["test_accuracy"] > 0.5


def test_optimizer_args_reach_the_optimizer(tiny_fashion, tmp_path):
    out = tmp_path / "run"
    main(
        [
            "train",
            "--data-dir",
            str(tiny_fashion),
            "--epochs",
            "1",
            "--optimizer",
            "sgd",
            "--optimizer-args",
            '{"momentum": 0.9, "nesterov": true}',
            "--lr",
            "0.05",
            "--output",
            str(out),
            "--verbose",
            "0",
        ]
    )
    model = load_model(out / "model.deepdescent")
    config = model.optimizer.get_config()
    assert config["momentum"] == 0.9 and config["nesterov"] is True and config["lr"] == 0.05
    with pytest.raises(SystemExit, match="do not fit SGD"):
        main(["train", "--optimizer-args", '{"betas": [0.9, 0.99]}', "--verbose", "0"])


@pytest.mark.parametrize("name", sorted(optimizers.CATALOGUE))
def test_every_optimizer_name_trains_from_the_command_line(name, tiny_fashion, tmp_path):
    out = tmp_path / "run"
    main(
        [
            "train",
            "--data-dir",
            str(tiny_fashion),
            "--epochs",
            "1",
            "--hidden",
            "4",
            "--optimizer",
            name,
            "--output",
            str(out),
            "--verbose",
            "0",
        ]
    )
    history = json.loads((out / "history.json").read_text())
    assert np.isfinite(history["loss"][0])
    assert type(load_model(out / "model.deepdescent").optimizer) is optimizers.info(name).cls
