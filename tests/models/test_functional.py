"""The functional API: symbolic tensors, graphs of several inputs and outputs, shared
layers, the summary's connections, saving without code, and training through fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import deepdescent as keras
from deepdescent import layers, ops
from deepdescent.models import Model, Sequential, load_model


def test_input_is_a_symbolic_tensor_with_keras_shape():
    x = keras.Input(shape=(28, 28, 1), name="image")
    assert x.shape == (None, 28, 28, 1) and x.dtype == "float32" and x.name == "image"
    y = layers.Conv2D(8, 3, strides=2, padding="same")(x)
    assert y.shape == (None, 14, 14, 8)
    tokens = keras.Input(shape=(None,), dtype="int32")
    assert layers.Embedding(10, 4)(tokens).shape == (None, None, 4)
    assert layers.LSTM(3, return_sequences=True)(layers.Embedding(10, 4)(tokens)).shape == (
        None,
        None,
        3,
    )


def test_symbolic_tensors_hold_no_data():
    x = keras.Input(shape=(3,))
    with pytest.raises(TypeError, match="no data"):
        np.asarray(x)
    with pytest.raises(TypeError, match="truth value"):
        bool(x)


def test_arithmetic_and_ops_record_operations():
    x = keras.Input(shape=(4,))
    y = 2 * x + 1
    z = ops.mean(y[:, 1:], axis=1, keepdims=True) - x[:, :1]
    model = Model(x, z)
    data = torch.randn(5, 4)
    expected = (2 * data + 1)[:, 1:].mean(1, keepdim=True) - data[:, :1]
    torch.testing.assert_close(model(data), expected)


def _two_in_two_out():
    image = keras.Input(shape=(6, 6, 2), name="image")
    series = keras.Input(shape=(None, 3), name="series")
    a = layers.GlobalMaxPooling2D()(layers.Conv2D(3, 3)(image))
    b = layers.GlobalMaxPooling1D()(layers.Conv1D(3, 2)(series))
    joined = layers.concatenate([a, b])
    score = layers.Dense(1, name="score")(joined)
    label = layers.Dense(4, activation="softmax", name="label")(joined)
    return Model(inputs=[image, series], outputs=[score, label])


def test_several_inputs_and_outputs_compute_the_composition():
    model = _two_in_two_out()
    image, series = torch.randn(2, 6, 6, 2), torch.randn(2, 7, 3)
    score, label = model([image, series])
    a = model.get_layer("global_max_pooling2d")(model.get_layer("conv2d")(image))
    b = model.get_layer("global_max_pooling1d")(model.get_layer("conv1d")(series))
    joined = torch.cat([a, b], dim=-1)
    torch.testing.assert_close(score, model.get_layer("score")(joined))
    torch.testing.assert_close(label, model.get_layer("label")(joined))
    by_name = model({"image": image, "series": series})
    torch.testing.assert_close(by_name[0], score)
    assert [t.shape for t in model.outputs] == [(None, 1), (None, 4)]


def test_a_shared_layer_is_one_module_called_twice():
    shared = layers.Dense(3)
    left, right = keras.Input(shape=(2,)), keras.Input(shape=(2,))
    model = Model([left, right], layers.Add()([shared(left), shared(right)]))
    assert sum(isinstance(layer, layers.Dense) for layer in model.layers) == 1
    a, b = torch.randn(4, 2), torch.randn(4, 2)
    out = model([a, b])
    torch.testing.assert_close(out, shared(a) + shared(b))
    out.sum().backward()
    # The kernel's gradient sums both uses: Σ_batch (a + b) for every unit.
    torch.testing.assert_close(shared.kernel.grad, (a + b).sum(0)[:, None].expand(2, 3))


def test_a_model_is_a_layer_of_another_model():
    inner_in = keras.Input(shape=(3,))
    inner = Model(inner_in, layers.Dense(2)(inner_in), name="inner")
    outer_in = keras.Input(shape=(3,))
    outer = Model(outer_in, layers.Dense(1)(inner(outer_in)))
    x = torch.randn(5, 3)
    torch.testing.assert_close(outer(x), outer.layers[-1](inner(x)))


def test_summary_names_an_operators_node_as_keras_does():
    """``x += residual`` is an ``Add`` node; a row's sources but the last end with a
    comma, each on its own line."""
    inputs = keras.Input(shape=(4,))
    x = layers.Dense(4, name="first")(inputs)
    residual = x
    x = layers.Dense(4, name="second")(x)
    x += residual
    model = Model(inputs, x[:, :2])
    rows = model.summary(print_fn=lambda _: None).splitlines()
    add = next(i for i, row in enumerate(rows) if "(Add)" in row)
    assert "add (Add)" in rows[add] and rows[add].rstrip("│ ").endswith("second[0][0],")
    assert rows[add + 1].rstrip("│ ").endswith("first[0][0]")
    assert any("get_item (GetItem)" in row for row in rows)


def test_summary_shows_shapes_and_connections():
    text = _two_in_two_out().summary(print_fn=lambda _: None)
    assert "Connected to" in text
    assert "concatenate (Concatenate)" in text and "(None, 6)" in text
    assert "global_max_pooling2d[0][0]" in text and "global_max_pooling1d[0][0]" in text
    assert "series (InputLayer)" in text and "(None, None, 3)" in text


def test_save_and_load_rebuild_the_graph_without_code(tmp_path):
    x = keras.Input(shape=(4,))
    hidden = layers.Dense(5, activation="relu")(x)
    out = layers.Dense(2)(hidden * 0.5 + hidden[:, :1]) - ops.mean(x, axis=1, keepdims=True)
    model = Model(x, out, name="graph")
    model.compile(optimizer="adam", loss="mse")
    data = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    model.fit(data, np.zeros((6, 2), "float32"), epochs=1, verbose=0)
    path = tmp_path / "graph.deepdescent"
    model.save(path)
    loaded = load_model(path)
    assert loaded.name == "graph"
    np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    json.dumps(loaded.get_config())


def test_multi_io_model_saves_and_loads(tmp_path):
    model = _two_in_two_out()
    path = tmp_path / "two.deepdescent"
    model.save(path)
    loaded = load_model(path)
    image, series = torch.randn(2, 6, 6, 2), torch.randn(2, 5, 3)
    for got, want in zip(loaded([image, series]), model([image, series]), strict=True):
        torch.testing.assert_close(got, want)


def test_functional_chain_trains_exactly_as_the_same_sequential():
    torch.manual_seed(0)
    inputs = keras.Input(shape=(3,))
    outputs = layers.Dense(1, activation="sigmoid")(layers.Dense(4, activation="tanh")(inputs))
    functional = Model(inputs, outputs)
    sequential = Sequential(
        [keras.Input(shape=(3,)), layers.Dense(4, "tanh"), layers.Dense(1, "sigmoid")]
    )
    sequential.set_weights(functional.get_weights())
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.integers(0, 2, (32, 1)).astype("float32")
    for model in (functional, sequential):
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy")
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(functional.get_weights(), sequential.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_softmax_output_folds_into_cross_entropy():
    inputs = keras.Input(shape=(3,))
    model = Model(inputs, layers.Dense(4, activation="softmax")(inputs))
    assert model.output_activation() == "softmax"
    x = torch.randn(2, 3)
    logits = model.forward_pre_activation(x)
    torch.testing.assert_close(torch.softmax(logits, -1), model(x))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: Model(keras.Input(shape=(2,)), layers.Dense(1)(keras.Input(shape=(2,)))),
            "not among the model's inputs",
        ),
        (
            lambda: Model(layers.Dense(1)(keras.Input(shape=(2,))), keras.Input(shape=(2,))),
            "made by Input",
        ),
        (lambda: Model(np.zeros(3), np.zeros(3)), "symbolic tensors"),
    ],
)
def test_malformed_graphs_are_refused(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


def test_a_layer_that_cannot_take_the_shape_names_itself():
    x = keras.Input(shape=(5, 3))
    with pytest.raises(ValueError, match="conv2d"):
        layers.Conv2D(2, 3, name="conv2d")(x)


def test_two_layers_with_one_name_are_refused():
    x = keras.Input(shape=(2,))
    y = layers.Dense(2, name="same")(layers.Dense(2, name="same")(x))
    with pytest.raises(ValueError, match="unique"):
        Model(x, y)


def test_functional_models_take_the_autograd_path():
    from deepdescent.training.gradient_path import choose_gradient_path

    inputs = keras.Input(shape=(3,))
    model = Model(inputs, layers.Dense(2)(layers.Dense(3)(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    assert choose_gradient_path(model).name == "autograd"
