"""keras.utils.plot_model: the boxes and arrows are the model's layer calls, written out
by hand for a two-input, two-output model (Keras's guide's example); the file is a PNG."""

from __future__ import annotations

import matplotlib.image
import pytest

import deepdescent as keras
from deepdescent import layers
from deepdescent.utils.model_plot import model_graph


def _two_in_two_out() -> keras.Model:
    image = keras.Input(shape=(8, 8, 3), name="img_input")
    series = keras.Input(shape=(None, 4), name="ts_input")
    x1 = layers.GlobalMaxPooling2D(name="pool_img")(layers.Conv2D(3, 3, name="conv_img")(image))
    x2 = layers.GlobalMaxPooling1D(name="pool_ts")(layers.Conv1D(3, 3, name="conv_ts")(series))
    joined = layers.Concatenate(name="joined")([x1, x2])
    score = layers.Dense(1, name="score_output")(joined)
    classes = layers.Dense(5, activation="softmax", name="class_output")(joined)
    return keras.Model(inputs=[image, series], outputs=[score, classes])


def test_boxes_arrows_and_depths_are_the_layer_calls():
    drawn = model_graph(_two_in_two_out(), show_shapes=True, show_layer_activations=True)
    names = [label.split(" (")[0] for label in drawn.labels]
    expected_edges = {
        ("img_input", "conv_img"),
        ("conv_img", "pool_img"),
        ("ts_input", "conv_ts"),
        ("conv_ts", "pool_ts"),
        ("pool_img", "joined"),
        ("pool_ts", "joined"),
        ("joined", "score_output"),
        ("joined", "class_output"),
    }
    assert {(names[a], names[b]) for a, b in drawn.edges} == expected_edges
    assert len(drawn.edges) == len(expected_edges)
    depth = dict(zip(names, drawn.depths, strict=True))
    assert depth == {
        "img_input": 0,
        "ts_input": 0,
        "conv_img": 1,
        "conv_ts": 1,
        "pool_img": 2,
        "pool_ts": 2,
        "joined": 3,
        "score_output": 4,
        "class_output": 4,
    }
    class_label = drawn.labels[names.index("class_output")]
    assert "class_output (Dense)" in class_label
    assert "activation: softmax" in class_label
    assert "output: (None, 5)" in class_label
    assert "output: (None, None, 4)" in drawn.labels[names.index("ts_input")]


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_writes_a_png(tmp_path, rankdir):
    path = tmp_path / "model.png"
    returned = keras.utils.plot_model(
        _two_in_two_out(), str(path), show_shapes=True, rankdir=rankdir, dpi=50
    )
    assert returned == str(path)
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 20 and image.shape[1] > 20


def test_refuses_a_model_without_a_graph_and_a_bad_rankdir(tmp_path):
    sequential = keras.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match="functional models"):
        keras.utils.plot_model(sequential, str(tmp_path / "s.png"))
    with pytest.raises(ValueError, match="rankdir"):
        keras.utils.plot_model(_two_in_two_out(), str(tmp_path / "m.png"), rankdir="BT")
    assert not list(tmp_path.iterdir())
