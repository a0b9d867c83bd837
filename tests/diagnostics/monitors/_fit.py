"""A tiny classification run for the monitors' tests.

Imported as ``from diagnostics.monitors._fit import ...`` (``tests`` is on the path).
"""

from __future__ import annotations

import numpy as np

from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers import SGD
from deepdescent.utils import set_random_seed, to_categorical


def data(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    labels = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    return x, to_categorical(labels, 3)


def model(activation: str = "sigmoid", **optimizer: float) -> Sequential:
    set_random_seed(0)
    net = Sequential(
        [Dense(6, activation=activation, input_shape=(5,)), Dense(3, activation="softmax")]
    )
    net.compile(
        optimizer=SGD(learning_rate=0.5, **optimizer),
        loss="categorical_crossentropy",
        metrics=["zero_one_loss"],
    )
    return net


def fit(net: Sequential, callbacks: list, epochs: int = 3, **options):
    x, y = data()
    set_random_seed(1)
    return net.fit(x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=callbacks, **options)
