"""The example programs of examples/ run, on little data, and do what they say."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from deepdescent.utils import set_random_seed

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _main(name):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="example")["main"]


@pytest.mark.realdata
@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_convnet_learns_fashion_mnist(capsys):
    set_random_seed(0)  # the program itself, as Keras's, draws unseeded initial weights
    history, accuracy = _main("convnet")(samples=2000, epochs=2)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy > 0.6
    assert "conv2d (Conv2D)" in capsys.readouterr().out


def test_functional_residual_trains_and_reloads(tmp_path):
    history, same = _main("functional_residual")(
        samples=300, epochs=2, path=tmp_path / "r.deepdescent"
    )
    assert same
    assert {"value_loss", "label_loss", "label_accuracy", "val_loss"} <= set(history.history)


def test_subclassed_model_trains():
    history = _main("subclassed_model")(samples=400, epochs=3)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_custom_callbacks_see_keras_logs_and_change_the_run():
    history, printer = _main("custom_callbacks")(samples=300, epochs=8)
    calls = dict(printer.calls)
    assert calls["train_begin"] == [] and calls["train_batch_begin"] == []
    assert calls["predict_batch_end"] == ["outputs"]
    assert "val_loss" in calls["epoch_end"]
    rates = history.history["learning_rate"]
    assert rates[0] == pytest.approx(0.1) and (len(rates) <= 3 or rates[3] == pytest.approx(0.01))


def test_custom_train_step_reports_the_gradient_norm():
    history = _main("custom_train_step")(samples=300, epochs=3)
    assert len(history.history["gradient_norm"]) == 3
    assert all(n > 0 for n in history.history["gradient_norm"])
    assert history.history["loss"][-1] < history.history["loss"][0]
