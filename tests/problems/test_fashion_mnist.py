"""The Fashion-MNIST problems: the data as the lecture prepares them (flattened, in
[0, 1], one-hot, the last 10% held out), the three networks, and the catalogue's lecture
recipes as their settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.datasets import fashion_mnist as dataset
from deepdescent.layers import Dense
from deepdescent.optimizers import catalogue
from deepdescent.problems import DataSource, deep_relu_mlp, lecture_mlp, logistic_regression


def test_the_data_are_scaled_one_hot_and_split_as_keras_validation_split(tiny_fashion):
    splits = lecture_mlp.load(DataSource(str(tiny_fashion)))
    (x, y), (x_test, y_test) = dataset.load_data(path=tiny_fashion)
    np.testing.assert_array_equal(splits.x_train, x[:270].reshape(270, 784) / np.float32(255))
    np.testing.assert_array_equal(splits.x_val, x[270:].reshape(30, 784) / np.float32(255))
    np.testing.assert_array_equal(splits.y_val.argmax(1), y[270:])
    np.testing.assert_array_equal(splits.x_test, x_test.reshape(100, 784) / np.float32(255))
    np.testing.assert_array_equal(splits.y_test, np.eye(10)[y_test])
    assert splits.x_train.dtype == np.float32


def test_a_limit_takes_the_first_training_images_then_splits_them(tiny_fashion):
    splits = logistic_regression.load(DataSource(str(tiny_fashion), limit=100))
    (x, _), _ = dataset.load_data(path=tiny_fashion)
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (90, 10, 100)
    np.testing.assert_array_equal(splits.x_val, x[90:100].reshape(10, 784) / np.float32(255))
    with pytest.raises(ValueError, match="Invalid limit: 1 "):
        logistic_regression.load(DataSource(str(tiny_fashion), limit=1))


@pytest.mark.parametrize(
    ("problem", "widths", "activation"),
    [
        (lecture_mlp, [32, 10], "sigmoid"),
        (logistic_regression, [10], None),
        (deep_relu_mlp, [128, 128, 128, 128, 10], "relu"),
    ],
)
def test_the_networks(problem, widths, activation):
    model = problem.build()
    dense = [layer for layer in model.modules() if isinstance(layer, Dense)]
    assert [layer.units for layer in dense] == widths
    assert [layer.activation_name for layer in dense[:-1]] == [activation] * (len(widths) - 1)
    assert dense[-1].activation_name == "softmax"
    assert model(torch.zeros(2, 784)).shape == (2, 10)


@pytest.mark.parametrize("name", ["sgd", "adam", "lbfgs", "kfac"])
def test_the_settings_are_the_catalogue_lecture_recipes(name):
    recipe = catalogue.info(name).lecture
    for problem in (lecture_mlp, logistic_regression, deep_relu_mlp):
        setting = problem.setting(name)
        assert (setting.hyperparameters, setting.batch_size) == (recipe.kwargs, recipe.batch_size)
