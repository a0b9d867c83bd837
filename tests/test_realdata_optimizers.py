"""The chapter's optimizers train the lecture network on the real Fashion-MNIST."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepdescent import optimizers
from deepdescent.datasets import fashion_mnist
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.utils import set_random_seed, to_categorical

FASHION = Path("/usr/share/datasets/fashion-mnist")

RECIPES = {
    "sgd": ("sgd", {"lr": 0.1}),
    "momentum": ("sgd", {"lr": 0.05, "momentum": 0.9}),
    "nesterov": ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "adagrad": ("adagrad", {"lr": 0.05}),
    "rmsprop": ("rmsprop", {"lr": 0.001}),
    "adam": ("adam", {"lr": 0.001}),
}


@pytest.fixture(scope="module")
def fashion():
    (x, y), (xt, yt) = fashion_mnist.load_data()
    scale = 255.0
    return (
        (x.reshape(len(x), -1) / scale).astype("float32"),
        to_categorical(y, 10),
        (xt.reshape(len(xt), -1) / scale).astype("float32"),
        to_categorical(yt, 10),
    )


@pytest.mark.realdata
@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_one_epoch_beats_chance_by_a_wide_margin(fashion, recipe):
    x, y, xt, yt = fashion
    name, kwargs = RECIPES[recipe]
    set_random_seed(0)
    model = Sequential(
        [Dense(32, activation="sigmoid", input_shape=(784,)), Dense(10, activation="softmax")]
    )
    model.compile(
        optimizer=optimizers.CATALOGUE[name](**kwargs),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    _, accuracy = model.evaluate(xt, yt, verbose=0)
    assert accuracy > 0.6, f"{recipe}: test accuracy {accuracy:.3f} after one epoch"
