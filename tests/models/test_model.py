"""``Model``: Keras's methods around any torch module: its weights, its properties, and bad
input to compile/fit, each error naming the argument and saying what was expected."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.layers import Dense
from deepdescent.models import Model, Sequential


def model(compiled=True):
    m = Sequential(
        [Dense(8, activation="sigmoid", input_shape=(784,)), Dense(10, activation="softmax")]
    )
    if compiled:
        m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    return m


X = np.zeros((20, 784), dtype="float32")
Y = np.eye(10, dtype="float32")[np.arange(20) % 10]


def test_input_of_the_wrong_width():
    with pytest.raises(
        ValueError,
        match=r"x has shape \(20, 28, 28\).*expects inputs of shape "
        r"\(None, 784\)",
    ):
        model().fit(X.reshape(20, 28, 28), Y, verbose=0)


def test_integer_labels_with_categorical_crossentropy():
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy|to_categorical"):
        model().fit(X, np.arange(20) % 10, verbose=0)


@pytest.mark.parametrize("split", [-0.1, 1.0, 1.5])
def test_validation_split_outside_the_unit_interval(split):
    with pytest.raises(ValueError, match="validation_split"):
        model().fit(X, Y, validation_split=split, verbose=0)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5])
def test_batch_size_must_be_positive(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        model().fit(X, Y, batch_size=batch_size, verbose=0)


def test_fit_before_compile():
    with pytest.raises(RuntimeError, match=r"compile\(.*\) before fit"):
        model(compiled=False).fit(X, Y)


@pytest.mark.parametrize(
    ("kwargs", "kind", "suggestion"),
    [
        ({"optimizer": "sgdd"}, "optimizer", "sgd"),
        ({"loss": "categorical_crossentropyy"}, "loss", "categorical_crossentropy"),
        ({"metrics": ["acuracy"]}, "metric", "accuracy"),
    ],
)
def test_unknown_names_list_valid_ones_and_suggest(kwargs, kind, suggestion):
    arguments = {"optimizer": "sgd", "loss": "categorical_crossentropy", **kwargs}
    with pytest.raises(ValueError, match=rf"{kind}.*Did you mean '{suggestion}'"):
        model(compiled=False).compile(**arguments)


def test_x_and_y_of_different_lengths():
    with pytest.raises(ValueError, match="same number of samples, got 20 and 19"):
        model().fit(X, Y[:19], verbose=0)


def test_empty_dataset():
    with pytest.raises(ValueError, match="x is empty"):
        model().fit(X[:0], Y[:0], verbose=0)


def test_validation_split_leaving_nothing():
    with pytest.raises(ValueError, match="empty training or validation set"):
        model().fit(X[:1], Y[:1], validation_split=0.5, verbose=0)


def test_non_numeric_input():
    with pytest.raises(TypeError, match="x must be a numeric array"):
        model().fit(np.array([["a"] * 784] * 2), Y[:2], verbose=0)


def test_set_weights_round_trip_and_shape_errors():
    net = model(compiled=False)
    weights = [np.full_like(w, i) for i, w in enumerate(net.get_weights())]
    net.set_weights(weights)
    for got, want in zip(net.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="expected 4 arrays, got 3"):
        net.set_weights(weights[:3])
    with pytest.raises(ValueError, match=r"'dense.kernel' has shape \(784, 8\)"):
        net.set_weights([np.zeros((8, 784)), *weights[1:]])


def test_get_weights_are_copies_of_parameters_and_buffers_in_state_dict_order():
    wrapped = Model(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3)))
    names = list(wrapped.state_dict())
    weights = wrapped.get_weights()
    assert [w.shape for w in weights] == [tuple(v.shape) for v in wrapped.state_dict().values()]
    assert "module.1.running_mean" in names and len(weights) == len(names)
    weights[0][...] = 42.0
    assert not (wrapped.module[0].weight.detach().numpy() == 42.0).any()


def test_model_wraps_any_torch_module():
    wrapped = Model(
        torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    )
    assert wrapped.count_params() == 3 * 4 + 4 + 4 + 1
    assert wrapped.predict(np.zeros((2, 3), dtype="float32"), verbose=0).shape == (2, 1)
    assert wrapped.built and wrapped.input_shape is None and wrapped.output_activation() is None
    x = torch.randn(2, 3)
    torch.testing.assert_close(wrapped.forward_pre_activation(x), wrapped(x))


def test_what_a_model_is_built_from():
    with pytest.raises(
        TypeError, match=r"symbolic tensors from Input\(\.\.\.\) .* or a torch\.nn\.Module; got str"
    ):
        Model("dense")
    empty = Model()
    assert not empty.built and empty.device == torch.device("cpu")
    assert empty.dtype == torch.get_default_dtype()
    with pytest.raises(
        RuntimeError,
        match=r"Model has nothing to compute: pass Model\(inputs, outputs\) or Model\(module\)",
    ):
        empty(torch.zeros(1, 2))
    assert model(compiled=False).double().dtype == torch.float64


def test_regularization_loss_is_the_sum_of_every_layers_penalties():
    net = Sequential(
        [
            Dense(3, input_shape=(2,), kernel_regularizer="l2"),
            Dense(2, kernel_regularizer="l1", bias_regularizer="l2", bias_initializer="ones"),
        ]
    )
    first, second = net.layers
    expected = (
        0.01 * (first.kernel**2).sum()
        + 0.01 * second.kernel.abs().sum()
        + 0.01 * (second.bias**2).sum()
    )
    assert net.has_regularizers() and not model().has_regularizers()
    torch.testing.assert_close(net.regularization_loss(), expected)


def test_compile_resolves_names_and_keeps_the_metric_identifiers():
    net = model(compiled=False)
    assert net.compile_config() is None
    net.compile(optimizer="momentum", loss="mse", metrics=["mae"])
    assert type(net.optimizer).__name__ == "SGD" and net.optimizer.get_config()["momentum"] == 0.9
    assert net.metrics_names == ["loss", "mae"]  # Keras names a metric by its identifier
    config = net.compile_config()
    assert config["loss"] == "mse" and config["metrics"] == ["mae"]  # as given, as Keras
    assert config["optimizer"]["class_name"] == "SGD"
    net.compile(optimizer=torch.optim.SGD(net.parameters(), lr=0.1), loss="mse")
    assert net.compile_config()["optimizer"] is None  # torch's optimizers have no config


def test_compile_refuses_metrics_that_are_not_a_list():
    with pytest.raises(TypeError, match=r"metrics must be a list, e.g. metrics=\['accuracy'\]"):
        model(compiled=False).compile(optimizer="sgd", loss="mse", metrics="accuracy")


def test_evaluate_before_compile_names_evaluate_and_predict_needs_no_compile():
    with pytest.raises(RuntimeError, match=r"compile\(.*\) before evaluate\(\)"):
        model(compiled=False).evaluate(X, Y, verbose=0)
    assert model(compiled=False).predict(X[:3], verbose=0).shape == (3, 10)
