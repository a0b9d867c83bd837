"""Every optimizer of the catalogue trains the lecture network on the real Fashion-MNIST,
with the settings its catalogue entry gives, to the accuracy the entry promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepdescent.datasets import fashion_mnist
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers import catalogue
from deepdescent.utils import set_random_seed, to_categorical

FASHION = Path("/usr/share/datasets/fashion-mnist")


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
@pytest.mark.parametrize("name", catalogue.names())
def test_the_lecture_recipe_of_every_entry_beats_chance(fashion, name):
    """Chance is 0.1; each recipe's floor is below what it reached when it was set."""
    x, y, xt, yt = fashion
    entry = catalogue.info(name)
    recipe = entry.lecture
    x, y = x[: recipe.samples], y[: recipe.samples]
    set_random_seed(0)
    model = Sequential(
        [
            Dense(recipe.hidden, activation="sigmoid", input_shape=(784,)),
            Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=entry.build(**recipe.kwargs),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=recipe.batch_size, epochs=recipe.epochs, verbose=0)
    if recipe.epochs > 1:
        assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(xt, yt, verbose=0)
    assert accuracy > recipe.accuracy, f"{name}: test accuracy {accuracy:.3f}"
