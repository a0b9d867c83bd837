"""A subclassed model: layers made in `__init__`, the forward pass in `call`, with a
`training` flag that switches dropout; trained with `fit` like any model.

    python examples/subclassed_model.py
"""

import numpy as np

import deepdescent as keras
from deepdescent import layers


class Regressor(keras.Model):
    def __init__(self, hidden, outputs):
        super().__init__()
        self.first = layers.Dense(hidden, activation="relu")
        self.dropout = layers.Dropout(0.2)
        self.second = layers.Dense(hidden, activation="relu")
        self.head = layers.Dense(outputs)

    def call(self, inputs, training=None):
        x = self.first(inputs)
        x = self.dropout(x, training=training)
        return self.head(self.second(x))


def main(samples=5000, epochs=5):
    rng = np.random.default_rng(0)
    x = rng.random((samples, 32)).astype("float32")
    y = np.stack([x[:, :16].sum(1), x[:, 16:].prod(1)], axis=1).astype("float32")
    model = Regressor(hidden=128, outputs=2)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss="mse",
        metrics=["mae"],
    )
    history = model.fit(x, y, batch_size=32, epochs=epochs, validation_split=0.2)
    model.summary()
    return history


if __name__ == "__main__":
    main()
