"""Writes the ``.keras`` fixtures of ``tests/models/test_keras_format.py`` with Keras 3
itself, and the predictions Keras makes with them.

Not run by the tests (they need no Keras): rerun by hand when the fixtures change, in an
environment with Keras 3 and a backend, from this folder::

    KERAS_BACKEND=jax python make_keras_files.py
"""

from __future__ import annotations

import io
import zipfile

import keras
import numpy as np


def save(model: keras.Model, path: str) -> None:
    """``model.save(path)``, the archive's members then deflated: Keras stores them
    uncompressed, and its HDF5 weights are mostly empty space (52 KB → 4 KB). The
    members are Keras's bytes unchanged; Keras reads the deflated archive too."""
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    deflated = io.BytesIO()
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with open(path, "wb") as handle:
        handle.write(deflated.getvalue())
    reloaded = keras.saving.load_model(path)
    for ours, theirs in zip(model.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


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


def volumes() -> keras.Model:
    """3-D layers, channels last, with kernels that are not symmetric in their axes."""
    layers = keras.layers
    clips = keras.Input(shape=(4, 6, 6, 2), name="clips")
    features = layers.Conv3D(3, (2, 3, 1), padding="same", activation="relu")(clips)
    features = layers.BatchNormalization()(features)
    pooled = layers.MaxPooling3D(2)(features)
    pooled = layers.AveragePooling3D((2, 1, 1))(pooled)
    frames = layers.TimeDistributed(layers.Conv2D(2, (3, 2)))(clips)
    frames = layers.TimeDistributed(layers.GlobalAveragePooling2D())(frames)
    frames = layers.BatchNormalization(axis=1, center=False)(frames)
    merged = layers.concatenate(
        [
            layers.GlobalAveragePooling3D()(pooled),
            layers.GlobalMaxPooling3D()(features),
            layers.Flatten()(frames),
        ]
    )
    return keras.Model(clips, layers.Dense(3)(merged), name="volumes")


def wrapped_sequences() -> keras.Model:
    """Bidirectional LSTM, GRU and SimpleRNN (each merge), TimeDistributed, the 1-D
    reshaping layers, layer normalization and a dot product."""
    layers = keras.layers
    series = keras.Input(shape=(5, 3), name="series")
    both = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(series)
    steps = layers.TimeDistributed(layers.Dense(3))(both)
    steps = layers.LayerNormalization()(steps)
    longer = layers.Conv1DTranspose(2, 3, strides=2)(steps)
    longer = layers.ZeroPadding1D((1, 2))(longer)
    longer = layers.Cropping1D((2, 1))(longer)
    longer = layers.UpSampling1D(2)(longer)
    summary = layers.Bidirectional(layers.GRU(3), merge_mode="sum")(longer)
    other = layers.Bidirectional(layers.SimpleRNN(3), merge_mode="ave")(steps)
    product = layers.Dot(axes=1)([summary, other])
    whole = layers.LayerNormalization(axis=[1, 2], center=False)(both)
    merged = layers.concatenate([summary, product, layers.Flatten()(whole)])
    return keras.Model(series, layers.Dense(2)(merged), name="wrapped_sequences")


def image_pipeline() -> keras.Model:
    """The image preprocessing layers (the random ones pass images through at inference)."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 3)),
            layers.Rescaling(0.5, offset=0.25),
            layers.Resizing(10, 12),
            layers.RandomFlip(),
            layers.RandomRotation(0.1),
            layers.RandomZoom(0.1),
            layers.RandomTranslation(0.1, 0.2),
            layers.RandomContrast(0.2),
            layers.CenterCrop(8, 9),
            layers.Resizing(5, 5, interpolation="nearest"),
            layers.GlobalMaxPooling2D(),
            layers.Dense(2),
        ],
        name="image_pipeline",
    )


def with_random_normalization(model: keras.Model, rng: np.random.Generator) -> keras.Model:
    """γ, β and the moving statistics drawn at random, so that a weight read into the
    wrong place shows (Keras starts them at 1, 0, 0, 1)."""
    for layer in model.layers:
        if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.LayerNormalization)):
            layer.set_weights(
                [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()]
            )
    return model


#: The compiled fixtures: Keras's optimizer, loss and metrics (file name → compile args).
COMPILED = {
    "compiled_adam": {
        "optimizer": keras.optimizers.Adam(learning_rate=0.01, beta_1=0.8, amsgrad=True),
        "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "metrics": ["accuracy"],
    },
    "compiled_rmsprop": {
        "optimizer": keras.optimizers.RMSprop(learning_rate=0.01, rho=0.8, momentum=0.5),
        "loss": "sparse_categorical_crossentropy",
        "metrics": [keras.metrics.SparseCategoricalAccuracy()],
    },
    "compiled_adagrad": {
        "optimizer": keras.optimizers.Adagrad(learning_rate=0.1),
        "loss": "sparse_categorical_crossentropy",
    },
    "compiled_adadelta": {
        "optimizer": keras.optimizers.Adadelta(learning_rate=1.0, rho=0.9),
        "loss": "sparse_categorical_crossentropy",
    },
    "compiled_adamax": {
        "optimizer": keras.optimizers.Adamax(learning_rate=0.05),
        "loss": "sparse_categorical_crossentropy",
    },
    "compiled_nadam": {
        "optimizer": keras.optimizers.Nadam(learning_rate=0.05),
        "loss": "sparse_categorical_crossentropy",
    },
    "compiled_lion": {
        "optimizer": keras.optimizers.Lion(learning_rate=0.01, weight_decay=0.1),
        "loss": "sparse_categorical_crossentropy",
    },
    "compiled_sgd": {
        "optimizer": keras.optimizers.SGD(
            learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=0.01
        ),
        "loss": "mse",
        "metrics": ["mae"],
    },
}


def compiled_models(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each compiled fixture, saved after one of Keras's training steps (so its optimizer
    keeps a state), and its predictions after two more steps on the same batch."""
    layers = keras.layers
    x = rng.normal(size=(6, 4)).astype("float32")
    labels = np.array([0, 1, 1, 0, 1, 0])
    made = {"compiled_x": x, "compiled_labels": labels}
    for name, arguments in COMPILED.items():
        model = keras.Sequential(
            [
                keras.Input(shape=(4,)),
                layers.Dense(3, activation="tanh"),
                layers.Dense(2, activation="softmax"),
            ],
            name=name,
        )
        model.compile(**arguments)
        y = labels if name != "compiled_sgd" else np.eye(2, dtype="float32")[labels]
        model.train_on_batch(x, y)
        save(model, f"{name}.keras")
        for _ in range(2):
            model.train_on_batch(x, y)
        made[name] = model.predict(x, verbose=0)
    return made


def layer_names() -> None:
    """Keras's layer classes, one a line: the test that every layer both libraries have
    is read and written compares deepdescent's layers with these."""
    names = sorted(
        name
        for name in dir(keras.layers)
        if isinstance(getattr(keras.layers, name), type)
        and issubclass(getattr(keras.layers, name), keras.layers.Layer)
    )
    with open("keras_layer_names.txt", "w") as handle:
        handle.write(f"# keras.layers of Keras {keras.__version__}\n" + "\n".join(names) + "\n")


def compiled_branches(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A functional model whose layers Keras orders otherwise than their calls (Conv3D
    and batch normalization beside TimeDistributed, Bidirectional LSTM and GRU, layer
    normalization), compiled with SGD and momentum: saved after one of Keras's steps, and
    its predictions after two more (the optimizer's variables in Keras's order)."""
    layers = keras.layers
    clips = keras.Input(shape=(3, 4, 4, 1))
    volume = layers.BatchNormalization()(layers.Conv3D(2, (2, 3, 1), padding="same")(clips))
    frames = layers.TimeDistributed(layers.Flatten())(clips)
    frames = layers.Bidirectional(layers.LSTM(2, return_sequences=True))(frames)
    frames = layers.Bidirectional(layers.GRU(2))(layers.LayerNormalization()(frames))
    merged = layers.concatenate([layers.GlobalAveragePooling3D()(volume), frames])
    model = keras.Model(clips, layers.Dense(2)(merged), name="compiled_branches")
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    x = rng.normal(size=(4, 3, 4, 4, 1)).astype("float32")
    y = rng.normal(size=(4, 2)).astype("float32")
    model.train_on_batch(x, y)
    save(model, "compiled_branches.keras")
    for _ in range(2):
        model.train_on_batch(x, y)
    return {"branches_x": x, "branches_y": y, "compiled_branches": model.predict(x, verbose=0)}


def main() -> None:
    layer_names()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    convnet, sequences = sequential_convnet(), functional_sequences()
    images = rng.normal(size=(2, 9, 9, 3)).astype("float32")
    tokens = rng.integers(0, 11, size=(3, 6)).astype("int32")
    series = rng.normal(size=(3, 5, 3)).astype("float32")
    save(convnet, "convnet.keras")
    save(sequences, "two_heads.keras")
    first, second = sequences.predict([tokens, series], verbose=0)
    np.savez(
        "predictions.npz",
        images=images,
        convnet=convnet.predict(images, verbose=0),
        tokens=tokens,
        series=series,
        first=first,
        second=second,
        **new_layers(rng),
        **compiled_models(rng),
        **compiled_branches(rng),
    )


def new_layers(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The fixtures of the normalization, wrapper, 3-D and preprocessing layers."""
    clips = rng.normal(size=(2, 4, 6, 6, 2)).astype("float32")
    series = rng.normal(size=(2, 5, 3)).astype("float32")
    pictures = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    made = {"clips": clips, "wrapped_series": series, "pictures": pictures}
    for build, inputs in (
        (volumes, clips),
        (wrapped_sequences, series),
        (image_pipeline, pictures),
    ):
        model = with_random_normalization(build(), rng)
        save(model, f"{model.name}.keras")
        made[model.name] = model.predict(inputs, verbose=0)
    return made


if __name__ == "__main__":
    main()
