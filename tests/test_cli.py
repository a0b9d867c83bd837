"""`deepdescent train`: the recipe end to end, on tiny IDX files and on the real data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from deepdescent import cli, optimizers
from deepdescent.cli import main
from deepdescent.models import load_model
from deepdescent.recipe import build_model

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


def test_bad_flags_are_reported(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["train", "--epochs", "0"])
    assert "expected a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--validation-split", "1.5"])
    assert "expected a number in [0, 1)" in capsys.readouterr().err
    out = str(tmp_path / "run")
    assert main(["train", "--optimizer", "nope", "--output", out, "--verbose", "0"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("deepdescent: error: Unknown optimizer") and error.count("\n") == 1


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


def test_optimizer_args_reach_the_optimizer(tiny_fashion, tmp_path, capsys):
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
    other = str(tmp_path / "other")
    assert main(["train", "--optimizer-args", '{"betas": [0.9]}', "--output", other]) == 2
    assert "deepdescent: error: the options do not fit SGD" in capsys.readouterr().err


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


def _train(data, out, *extra):
    return main(
        [
            "train",
            "--data-dir",
            str(data),
            "--hidden",
            "4",
            "--batch-size",
            "64",
            "--output",
            str(out),
            "--verbose",
            "0",
            *extra,
        ]
    )


def _strict_json(path):
    def refuse(constant):
        raise AssertionError(f"{path.name} holds a bare {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_help_lists_names_examples_and_defaults(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for part in ("examples:", "optimizers:", "schedule_free_adamw", "activations:", "leaky_relu"):
        assert part in text
    assert "(default: 128)" in text and "(default: None)" not in text
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "deepdescent train --backup-dir" in capsys.readouterr().out


def test_version(capsys):
    from deepdescent import __version__

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"deepdescent {__version__}"


def test_an_output_that_cannot_be_written_is_found_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    missing_data = tmp_path / "no-data-here"
    assert _train(missing_data, tmp_path / "file" / "run") == 2
    error = capsys.readouterr().err
    assert error.startswith("deepdescent: error: cannot write to --output") and error[-1] == "\n"


def test_a_folder_holding_a_run_is_reused_only_with_overwrite(tiny_fashion, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tiny_fashion, out, "--epochs", "1") == 0
    assert _train(tiny_fashion, out, "--epochs", "1") == 2
    assert "already holds a run (finished); pass --overwrite" in capsys.readouterr().err
    assert _train(tiny_fashion, out, "--epochs", "2", "--overwrite") == 0
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 2


def test_non_finite_training_exits_1_keeping_the_last_good_model(tiny_fashion, tmp_path, capsys):
    """--lr inf: the first step makes every weight infinite; the guard skips the next five
    and restores the weights it kept, which are saved; the JSON files are strict."""
    out = tmp_path / "run"
    assert _train(tiny_fashion, out, "--epochs", "3", "--lr", "inf", "--seed", "3") == 1
    error = capsys.readouterr().err
    assert error.startswith("deepdescent: error: Training stopped at step") and "--lr" not in error
    metrics = _strict_json(out / "metrics.json")
    assert metrics["status"] == "failed: non-finite values"
    history = _strict_json(out / "history.json")
    assert history["skipped_steps"][0] > 0
    model = load_model(out / "model.deepdescent")
    from deepdescent.utils import set_random_seed

    set_random_seed(3)
    initial = build_model(784, [4], "sigmoid")
    for got, want in zip(model.get_weights(), initial.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_ctrl_c_keeps_the_last_finished_epoch(tiny_fashion, tmp_path, monkeypatch):
    out = tmp_path / "run"
    write = cli.RunFolder.write_progress

    def interrupted_after_two_epochs(folder, model):
        write(folder, model)
        if len(model.history.epoch) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.RunFolder, "write_progress", interrupted_after_two_epochs)
    assert _train(tiny_fashion, out, "--epochs", "5") == 130
    assert _strict_json(out / "metrics.json")["status"] == "interrupted"
    assert len(_strict_json(out / "history.json")["loss"]) == 2
    assert (out / "curves.png").exists()
    # 270 training samples in batches of 64: 5 steps per epoch.
    assert load_model(out / "model.deepdescent").optimizer.iterations == 2 * 5


def test_sigterm_stops_cleanly_and_the_same_command_resumes(tiny_fashion, tmp_path, capsys):
    """A real SIGTERM to the command in another process: exit 143, the run folder keeps
    the finished epochs; the same command run again resumes from the backup (its
    progress lines start after the epochs already done) and finishes."""
    out, backup = tmp_path / "run", tmp_path / "backup"
    args = [
        "--data-dir",
        str(tiny_fashion),
        "--hidden",
        "4",
        "--batch-size",
        "64",
        "--limit",
        "128",
    ]
    args += ["--epochs", "150", "--output", str(out), "--backup-dir", str(backup)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "deepdescent.cli", "train", *args, "--verbose", "0"],
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not _finished_epochs(out, at_least=2):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 143, errors.decode()
    done = len(_strict_json(out / "history.json")["loss"])
    assert _strict_json(out / "metrics.json")["status"] == "interrupted" and done >= 2
    assert load_model(out / "model.deepdescent").optimizer.iterations == 2 * done
    capsys.readouterr()
    assert main(["train", *args, "--verbose", "2"]) == 0
    printed = capsys.readouterr().out
    assert "Epoch 1/150" not in printed and "Epoch 150/150" in printed
    assert len(_strict_json(out / "history.json")["loss"]) == 150
    assert not backup.exists()


def _finished_epochs(out, at_least):
    try:
        return len(json.loads((out / "history.json").read_text())["loss"]) >= at_least
    except (OSError, ValueError, KeyError):
        return False


def test_nproc_trains_data_parallel_and_only_rank_0_writes(tiny_fashion, tmp_path, capfd):
    """--nproc 2 runs the same command in two processes under torchrun (gloo on the CPU);
    rank 0 alone prints and writes the run folder, whose History has every epoch."""
    out = tmp_path / "run"
    environment = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    try:
        assert _train(tiny_fashion, out, "--epochs", "2", "--nproc", "2", "--verbose", "2") == 0
    finally:
        if environment is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = environment
    printed = capfd.readouterr().out
    assert printed.count("run folder:") == 1 and printed.count("Epoch 2/2") == 1
    assert _strict_json(out / "metrics.json")["status"] == "finished"
    assert len(_strict_json(out / "history.json")["loss"]) == 2
    assert sorted(p.name for p in out.iterdir()) == [
        "curves.png",
        "history.json",
        "log.csv",
        "metrics.json",
        "model.deepdescent",
    ]
    assert len((out / "log.csv").read_text().splitlines()) == 3  # header and two epochs
