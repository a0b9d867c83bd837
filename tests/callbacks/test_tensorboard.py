"""TensorBoard: the event files read back with TensorBoard's own reader hold what the
History holds, under Keras's tags, and histograms of weights and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from deepdescent import layers
from deepdescent.callbacks import TensorBoard
from deepdescent.models import Sequential

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="the tensorboard package (the optional extra) reads the event files",
)


def _read(folder):
    reader = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0}
    )
    reader.Reload()
    return reader


def _fit(tmp_path, **kwargs):
    model = Sequential(
        [layers.Input(shape=(3,)), layers.Dense(4, activation="relu"), layers.Dense(1)]
    )
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=10,
        verbose=0,
        validation_split=0.25,
        callbacks=[TensorBoard(tmp_path, **kwargs)],
    )
    return model, history.history


def test_epoch_scalars_match_the_history_under_keras_tags(tmp_path):
    _, history = _fit(tmp_path)
    train, validation = _read(tmp_path / "train"), _read(tmp_path / "validation")
    for name in ("loss", "mae"):
        events = train.Scalars(f"epoch_{name}")
        assert [e.step for e in events] == [0, 1, 2]
        np.testing.assert_allclose([e.value for e in events], history[name], rtol=1e-6)
    # As Keras's callback, it reads the learning rate from the optimizer (SGD's 0.01).
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == pytest.approx([0.01] * 3)
    for name in ("loss", "mae"):
        events = validation.Scalars(f"epoch_{name}")
        np.testing.assert_allclose([e.value for e in events], history[f"val_{name}"], rtol=1e-6)
    iterations = [e.step for e in validation.Scalars("evaluation_loss_vs_iterations")]
    assert iterations == [3, 6, 9]


def test_histograms_of_weights_and_gradients(tmp_path):
    model, _ = _fit(tmp_path, histogram_freq=2)
    train = _read(tmp_path / "train")
    tags = train.Tags()["histograms"]
    assert "dense/kernel/histogram" in tags and "dense_1/bias/gradient" in tags
    kernel = train.Histograms("dense/kernel/histogram")
    assert [h.step for h in kernel] == [0, 2]
    assert kernel[-1].histogram_value.num == model.layers[0].kernel.numel()


def test_batch_updates_and_steps_per_second(tmp_path):
    _fit(tmp_path, update_freq=2, write_steps_per_second=True)
    train = _read(tmp_path / "train")
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6, 8]
    assert all(e.value > 0 for e in train.Scalars("epoch_steps_per_second"))


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("update_freq", "sometimes"),
        ("embeddings_freq", 1),
        ("write_images", True),
        ("histogram_freq", -1),
    ],
)
def test_bad_arguments_are_named(tmp_path, argument, value):
    with pytest.raises(ValueError, match=argument):
        TensorBoard(tmp_path, **{argument: value})


def _pixels(png: bytes | str) -> np.ndarray:
    import io

    from PIL import Image

    source = io.BytesIO(png) if isinstance(png, bytes) else png
    with Image.open(source) as image:
        return np.asarray(image.convert("RGB"))


def test_the_diagnostics_figures_are_images_of_each_epoch(tmp_path):
    from deepdescent.diagnostics.monitors import CliffMonitor, CurvatureMonitor, SaturationMonitor

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    model = Sequential(
        [layers.Input(shape=(3,)), layers.Dense(4, activation="tanh"), layers.Dense(1)]
    )
    model.compile(optimizer="sgd", loss="mse")
    monitors = [
        CurvatureMonitor(x[:16], y[:16], interval=2),
        CliffMonitor(update_interval=2),
        SaturationMonitor(x[:16]),
    ]
    # TensorBoard first: the figures wait until every monitor has seen the epoch's end.
    board = TensorBoard(tmp_path, diagnostics=monitors)
    model.fit(x, y, epochs=3, batch_size=10, verbose=0, callbacks=[board, *monitors])
    train = _read(tmp_path / "train")
    for monitor in monitors:
        tag = f"diagnostics/{type(monitor).__name__}"
        assert tag in train.Tags()["images"]
        images = train.Images(tag)
        assert [image.step for image in images] == [0, 1, 2]
        # The last image is the monitor's own figure of the whole run.
        monitor.draw(tmp_path / "final.png")
        np.testing.assert_array_equal(
            _pixels(images[-1].encoded_image_string), _pixels(str(tmp_path / "final.png"))
        )


def test_monitors_listed_before_it_are_scalars_too(tmp_path):
    from deepdescent.diagnostics.monitors import CurvatureMonitor

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    model = Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    monitor = CurvatureMonitor(x[:16], y[:16], interval=2)
    model.fit(x, y, epochs=3, batch_size=10, verbose=0, callbacks=[monitor, TensorBoard(tmp_path)])
    values = [e.value for e in _read(tmp_path / "train").Scalars("epoch_gradient_curvature")]
    # Each epoch's logs hold the epoch's last measurement (steps 1, 3 and 5 of 4 per epoch).
    latest = monitor.history["gradient_curvature"]
    assert values == pytest.approx([latest[1], latest[3], latest[5]], rel=1e-6)


def test_a_monitor_left_out_of_fit_is_reported(tmp_path):
    from deepdescent.diagnostics.monitors import CliffMonitor

    with pytest.warns(RuntimeWarning, match="CliffMonitor measured nothing"):
        _fit(tmp_path, diagnostics=[CliffMonitor()])
    assert _read(tmp_path / "train").Tags()["images"] == []


def test_diagnostics_must_be_monitors(tmp_path):
    with pytest.raises(TypeError, match="diagnostics"):
        TensorBoard(tmp_path, diagnostics=["cliffs"])
    with pytest.raises(TypeError, match="diagnostics"):
        TensorBoard(tmp_path, diagnostics="cliffs")
