"""The lecture's seed network trained on real data, shared by the second-order methods'
realdata tests: 784-32-10 (sigmoid, softmax) on the first 5000 Fashion-MNIST training
images for 2 epochs, tested on the first 2000 test images.

Imported as ``from optimizers.second_order._seed_network import ...`` (``tests`` is on
the path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepdescent.datasets import fashion_mnist
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.utils import set_random_seed, to_categorical

FASHION = Path("/usr/share/datasets/fashion-mnist")


def seed_network_test_accuracy(optimizer: Any, batch_size: int, seed: int = 0) -> float:
    """The test accuracy of the seed network after 2 epochs with ``optimizer`` (an
    instance or a name), from the initial weights that ``seed`` draws."""
    (x, y), (xt, yt) = fashion_mnist.load_data()
    set_random_seed(seed)
    model = Sequential([Dense(32, activation="sigmoid", input_shape=(784,)), Dense(10, "softmax")])
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        x[:5000].reshape(5000, -1) / 255.0,
        to_categorical(y[:5000], 10),
        epochs=2,
        batch_size=batch_size,
        verbose=0,
    )
    _, accuracy = model.evaluate(
        xt[:2000].reshape(2000, -1) / 255.0, to_categorical(yt[:2000], 10), verbose=0
    )
    return float(accuracy)
