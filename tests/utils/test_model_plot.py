"""keras.utils.plot_model: the boxes and arrows are the model's layer calls, written out
by hand for a two-input, two-output model (Keras's guide's example), a Sequential chain,
nested models (expanded or not) and a subclassed model (one box, as Keras 3 draws it);
the file is a PNG."""

from __future__ import annotations

import matplotlib.image
import numpy as np
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
    drawn = model_graph(
        _two_in_two_out(), show_shapes=True, show_layer_activations=True, show_layer_names=True
    )
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


def _names(drawn) -> list[str]:
    return [label.split(" (")[0] for label in drawn.labels]


def _named_edges(drawn) -> set[tuple[str, str]]:
    names = _names(drawn)
    return {(names[a], names[b]) for a, b in drawn.edges}


def test_keras_3_default_labels_are_class_names():
    drawn = model_graph(_two_in_two_out())
    assert drawn.labels[:2] == ["InputLayer", "InputLayer"]
    assert "Concatenate" in drawn.labels


def _nested_sequential() -> keras.Sequential:
    block = keras.Sequential(
        [layers.Dense(4, activation="relu", name="d1"), layers.Dense(3, name="d2")], name="block"
    )
    return keras.Sequential(
        [
            keras.Input(shape=(5,)),
            layers.Dense(6, name="first"),
            block,
            layers.Dense(2, name="last"),
        ]
    )


def test_a_sequential_model_is_a_chain_with_its_shapes():
    drawn = model_graph(_nested_sequential(), show_shapes=True, show_layer_names=True)
    assert _names(drawn) == ["first", "block", "last"]
    assert drawn.edges == [(0, 1), (1, 2)]
    assert drawn.depths == [0, 1, 2]
    assert [label.split("\n")[1] for label in drawn.labels] == [
        "output: (None, 6)",
        "output: (None, 3)",
        "output: (None, 2)",
    ]


def test_expand_nested_draws_a_nested_sequential_as_its_layers():
    drawn = model_graph(_nested_sequential(), expand_nested=True, show_layer_names=True)
    assert _named_edges(drawn) == {("first", "d1"), ("d1", "d2"), ("d2", "last")}
    assert dict(zip(_names(drawn), drawn.depths, strict=True)) == {
        "first": 0,
        "d1": 1,
        "d2": 2,
        "last": 3,
    }


def test_expand_nested_in_a_functional_model_follows_each_output():
    x = keras.Input(shape=(5,), name="x")
    block = keras.Sequential([layers.Dense(4, name="a"), layers.Dense(3, name="b")], name="blk")
    inner_input = keras.Input(shape=(3,), name="inner_x")
    heads = keras.Model(
        inner_input,
        [layers.Dense(2, name="p")(inner_input), layers.Dense(1, name="q")(inner_input)],
    )
    first, second = heads(block(x))
    model = keras.Model(x, [layers.Dense(1, name="o1")(first), layers.Dense(1, name="o2")(second)])

    collapsed = model_graph(model, show_layer_names=True)
    assert len(collapsed.labels) == 5
    assert len(collapsed.edges) == 4

    drawn = model_graph(model, expand_nested=True, show_layer_names=True, show_shapes=True)
    assert _named_edges(drawn) == {
        ("x", "a"),
        ("a", "b"),
        ("b", "inner_x"),
        ("inner_x", "p"),
        ("inner_x", "q"),
        ("p", "o1"),
        ("q", "o2"),
    }
    assert "output: (None, 4)" in drawn.labels[_names(drawn).index("a")]


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="scorer")
        self.hidden = layers.Dense(3)
        self.out = layers.Dense(1)

    def call(self, inputs):
        return self.out(self.hidden(inputs))


def test_a_subclassed_model_is_one_box_and_must_be_built(tmp_path):
    model = _Subclassed()
    with pytest.raises(ValueError, match="not been built"):
        keras.utils.plot_model(model, str(tmp_path / "m.png"))
    assert not list(tmp_path.iterdir())
    model(np.zeros((2, 4), dtype="float32"))
    drawn = model_graph(model, show_layer_names=True)
    assert drawn.labels == ["scorer (_Subclassed)"]
    assert drawn.edges == []


def test_refuses_a_bad_rankdir(tmp_path):
    with pytest.raises(ValueError, match="rankdir"):
        keras.utils.plot_model(_two_in_two_out(), str(tmp_path / "m.png"), rankdir="BT")
    assert not list(tmp_path.iterdir())
