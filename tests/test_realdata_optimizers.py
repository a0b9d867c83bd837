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


# Closure methods train full batch (batch_size=None) on a subset. BFGS and Newton hold a
# dense n×n matrix (the 784-32-10 network's 25,450 parameters would need 2.6 GB), so they
# get the seed network with fewer hidden units; Newton forms its Hessian one column per
# closure call, so it gets 2 units (1,600 parameters) and 500 images.
CLOSURE_RECIPES = {
    "cg": (32, 3000, 10, 0.6),
    "lbfgs": (32, 3000, 3, 0.65),
    "bfgs": (4, 2000, 3, 0.4),
    "newton": (2, 500, 4, 0.3),
}


@pytest.mark.realdata
@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
@pytest.mark.parametrize("name", list(CLOSURE_RECIPES))
def test_closure_methods_train_the_seed_network_full_batch(fashion, name):
    x, y, xt, yt = fashion
    hidden, samples, epochs, floor = CLOSURE_RECIPES[name]
    set_random_seed(0)
    model = Sequential(
        [Dense(hidden, activation="sigmoid", input_shape=(784,)), Dense(10, activation="softmax")]
    )
    model.compile(optimizer=name, loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:samples], y[:samples], epochs=epochs, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(xt, yt, verbose=0)
    assert accuracy > floor, f"{name}: test accuracy {accuracy:.3f}"
