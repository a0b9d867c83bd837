"""Checks by hand that Keras 3 reads the ``.keras`` files deepdescent writes: not run by
the tests (they need no Keras). Two steps, in two environments, from the repository root::

    PYTHONPATH=src python tests/models/keras_files/check_in_keras.py write DIR
    KERAS_BACKEND=jax python tests/models/keras_files/check_in_keras.py read DIR

``write`` (deepdescent) saves a model of every layer added to the table since the first
fixtures, trained a little (batch normalization's moving statistics moved), and one small
compiled model per optimizer both libraries have, each after two training steps, with
their predictions and the predictions after two more steps. ``read`` (Keras) loads each,
predicts, trains the compiled ones two more steps from the state it read, and prints the
largest difference from deepdescent's figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

STEPS = 2


def optimizers(keras):
    """name → (optimizer, loss): each as Keras computes it (``convention="keras"``)."""
    o = keras.optimizers
    return {
        "adam": (o.Adam(0.01, beta_1=0.8, amsgrad=True, convention="keras"), "mse"),
        "adamw": (o.AdamW(0.01, convention="keras"), keras.losses.Huber(delta=0.5)),
        "adam_schedule": (
            o.Adam(keras.schedules.ExponentialDecay(0.05, 1, 0.5), convention="keras"),
            "mse",
        ),
        "adamax": (o.Adamax(0.01, convention="keras"), "mse"),
        "nadam": (o.Nadam(0.01, convention="keras"), "mse"),
        "rmsprop": (o.RMSprop(0.01, rho=0.8, momentum=0.5, convention="keras"), "mse"),
        "rmsprop_centered": (o.RMSprop(0.01, centered=True, convention="keras"), "mse"),
        "sgd": (
            o.SGD(
                0.05, momentum=0.9, nesterov=True, weight_decay=0.01, decoupled_weight_decay=True
            ),
            "mse",
        ),
        "sgd_clipnorm": (o.SGD(0.1, momentum=0.5, clipnorm=0.01), "mse"),
        "adagrad": (o.Adagrad(0.1, convention="keras"), "mse"),
        "adadelta": (o.Adadelta(1.0, convention="keras"), "mse"),
        "lion": (o.Lion(0.01, weight_decay=0.1, convention="keras"), "mse"),
    }


def branching_model(keras):
    """Conv3D and batch normalization beside TimeDistributed, Bidirectional LSTM and GRU
    and layer normalization, compiled with SGD and momentum; with its inputs."""
    layers = keras.layers
    keras.utils.set_random_seed(0)
    clips = keras.Input(shape=(4, 5, 5, 2))
    volume = layers.BatchNormalization()(layers.Conv3D(2, (2, 3, 1), padding="same")(clips))
    frames = layers.TimeDistributed(layers.Flatten())(clips)
    frames = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(frames)
    frames = layers.Bidirectional(layers.GRU(2))(layers.LayerNormalization()(frames))
    merged = layers.concatenate([layers.GlobalAveragePooling3D()(volume), frames])
    model = keras.Model(clips, layers.Dense(2)(merged))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    return model, np.random.default_rng(3).normal(size=(6, 4, 5, 5, 2)).astype("float32")


def write(folder: Path) -> None:
    import deepdescent as keras

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from test_keras_format import trained_model_of_every_new_layer

    model, inputs = trained_model_of_every_new_layer()
    model.save(folder / "every_layer.keras")
    arrays = {"a": inputs[0], "b": inputs[1], "every_layer": model.predict(inputs, verbose=0)}
    # Trained on in Keras too: no random layers (their draws differ), and layers whose
    # order in Keras's graph is not the order of their calls.
    branches, clips = branching_model(keras)
    target = np.random.default_rng(2).normal(size=(len(clips), 2)).astype("float32")
    for _ in range(STEPS):
        branches.train_on_batch(clips, target)
    branches.save(folder / "branches.keras")
    for _ in range(STEPS):
        branches.train_on_batch(clips, target)
    arrays.update(clips=clips, target=target, branches=branches.predict(clips, verbose=0))
    rng = np.random.default_rng(1)
    x = arrays["x"] = rng.normal(size=(6, 4)).astype("float32")
    y = arrays["y"] = rng.normal(size=(6, 2)).astype("float32")
    for name, (optimizer, loss) in optimizers(keras).items():
        keras.utils.set_random_seed(0)
        compiled = keras.Sequential(
            [
                keras.Input(shape=(4,)),
                keras.layers.Dense(3, activation="tanh"),
                keras.layers.Dense(2),
            ]
        )
        compiled.compile(optimizer=optimizer, loss=loss)
        for _ in range(STEPS):
            compiled.train_on_batch(x, y)
        compiled.save(folder / f"{name}.keras")
        for _ in range(STEPS):
            compiled.train_on_batch(x, y)
        arrays[name] = compiled.predict(x, verbose=0)
    np.savez(folder / "deepdescent.npz", **arrays)


def read(folder: Path) -> None:
    import keras

    made = np.load(folder / "deepdescent.npz")
    model = keras.saving.load_model(folder / "every_layer.keras")
    got = model.predict([made["a"], made["b"]], verbose=0)
    print(f"every_layer: max |Keras - deepdescent| = {np.abs(got - made['every_layer']).max():.2e}")
    branches = keras.saving.load_model(folder / "branches.keras")
    for _ in range(STEPS):
        branches.train_on_batch(made["clips"], made["target"])
    trained = np.abs(branches.predict(made["clips"], verbose=0) - made["branches"]).max()
    print(f"branches: after {STEPS} more steps of SGD with momentum {trained:.2e}")
    x, y = made["x"], made["y"]
    for name in made.files:
        if name in ("a", "b", "every_layer", "clips", "target", "branches", "x", "y"):
            continue
        compiled = keras.saving.load_model(folder / f"{name}.keras")
        steps = int(compiled.optimizer.iterations) if compiled.compiled else None
        for _ in range(STEPS):
            compiled.train_on_batch(x, y)
        difference = np.abs(compiled.predict(x, verbose=0) - made[name]).max()
        print(
            f"{name}: compiled {compiled.compiled} as {type(compiled.optimizer).__name__}, "
            f"state of {steps} steps read; after {STEPS} more steps max |Keras - "
            f"deepdescent| = {difference:.2e}"
        )


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](Path(sys.argv[2]))
