"""A functional model with a residual connection and two outputs: the graph built from
`keras.Input`, a shared `Add` of a layer's input and output, a loss per output, the
summary's connections, and a save/load round trip that runs no code.

    python examples/functional_residual.py
"""

import numpy as np

import deepdescent as keras
from deepdescent import layers


def build():
    inputs = keras.Input(shape=(20,), name="features")
    x = layers.Dense(64, activation="relu")(inputs)
    residual = x
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dense(64)(x)
    x = layers.ReLU()(x + residual)  # the skip connection: f(x) + x
    value = layers.Dense(1, name="value")(x)
    label = layers.Dense(3, activation="softmax", name="label")(x)
    return keras.Model(inputs, [value, label], name="residual")


def main(samples=2000, epochs=5, path="residual.deepdescent"):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 20)).astype("float32")
    value = x[:, :5].sum(axis=1, keepdims=True)
    label = keras.utils.to_categorical((x[:, 0] > 0).astype(int) + (x[:, 1] > 1), 3)
    model = build()
    model.summary()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss={"value": "mse", "label": "categorical_crossentropy"},
        loss_weights={"value": 0.5, "label": 1.0},
        metrics={"label": ["accuracy"]},
    )
    history = model.fit(x, {"value": value, "label": label}, epochs=epochs, validation_split=0.2)
    model.save(path)
    restored = keras.models.load_model(path)
    same = np.allclose(restored.predict(x[:8], verbose=0)[0], model.predict(x[:8], verbose=0)[0])
    print(f"reloaded model gives the same predictions: {same}")
    return history, same


if __name__ == "__main__":
    main()
