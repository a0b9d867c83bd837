"""Writes the ``.keras`` fixtures of ``tests/models/test_keras_format.py`` with Keras 3
itself, and the predictions Keras makes with them.

Not run by the tests (they need no Keras): rerun by hand when the fixtures change, in an
environment with Keras 3 and a backend, from this folder::

    KERAS_BACKEND=jax python make_keras_files.py
"""

from __future__ import annotations

import keras
import numpy as np


def sequential_convnet() -> keras.Model:
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(9, 9, 3)),
            layers.ZeroPadding2D(1),
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.SeparableConv2D(5, 2, depth_multiplier=2, padding="same"),
            layers.DepthwiseConv2D(2),
            layers.UpSampling2D(),
            layers.Conv2DTranspose(3, 2, strides=2),
            layers.PReLU(),
            layers.GlobalAveragePooling2D(),
            layers.Dropout(0.2),
            layers.Dense(4, activation="softmax", kernel_regularizer="l2"),
        ],
        name="convnet",
    )


def functional_sequences() -> keras.Model:
    layers = keras.layers
    tokens = keras.Input(shape=(6,), dtype="int32", name="tokens")
    series = keras.Input(shape=(5, 3), name="series")
    embedded = layers.Embedding(11, 4)(tokens)
    shared = layers.Dense(4, activation="tanh")
    words = layers.LSTM(5)(shared(embedded))
    steps = layers.GRU(5, return_sequences=True)(series)
    steps = layers.Conv1D(4, 2, padding="same")(steps)
    summary = layers.SimpleRNN(5)(shared(steps))
    merged = layers.concatenate([words, summary])
    residual = layers.add([layers.Dense(5)(merged), words])
    first = layers.Dense(2, name="first")(layers.LeakyReLU(0.1)(residual))
    second = layers.Dense(1, activation="sigmoid", name="second")(summary)
    return keras.Model([tokens, series], [first, second], name="two_heads")


def main() -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    convnet, sequences = sequential_convnet(), functional_sequences()
    images = rng.normal(size=(2, 9, 9, 3)).astype("float32")
    tokens = rng.integers(0, 11, size=(3, 6)).astype("int32")
    series = rng.normal(size=(3, 5, 3)).astype("float32")
    convnet.save("convnet.keras")
    sequences.save("two_heads.keras")
    first, second = sequences.predict([tokens, series], verbose=0)
    np.savez(
        "predictions.npz",
        images=images,
        convnet=convnet.predict(images, verbose=0),
        tokens=tokens,
        series=series,
        first=first,
        second=second,
    )


if __name__ == "__main__":
    main()
