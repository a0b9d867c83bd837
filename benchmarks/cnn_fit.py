"""A small convolutional network on Fashion-MNIST through compile/fit, against a plain
PyTorch loop on the same network (and Keras 3, when installed), in one run.

The network: Conv2D(32, 3, relu, "same") → MaxPooling2D → Conv2D(64, 3, relu, "same") →
MaxPooling2D → Flatten → Dense(128, relu) → Dense(10, softmax); Adam (lr 1e-3), batch
128, images scaled to [0, 1] in Keras's channels-last layout. Each variant trains for
``--epochs`` in a fresh process, ``--repeats`` interleaved rounds; the table gives the
median fit time, its ratio to deepdescent, and the test accuracy reached.

    python benchmarks/cnn_fit.py [--epochs 3] [--repeats 3] [--variants deepdescent torch_loop]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

# The script's folder is on the path when it runs: the shared driver is a sibling.
from _peers import available, measure, plan, report, run_child

BATCH, LR = 128, 1e-3
VARIANTS = ("deepdescent", "torch_loop", "keras_jax", "keras_torch")


def load() -> tuple:
    from deepdescent.datasets import fashion_mnist

    (x, y), (xt, yt) = fashion_mnist.load_data()
    return (x[..., None].astype("float32") / 255, y, xt[..., None].astype("float32") / 255, yt)


def _keras_like(keras: Any) -> Any:
    """The network, written once for deepdescent and Keras (the same code runs on both)."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def run_deepdescent(epochs: int) -> tuple[float, float]:
    import deepdescent

    return _fit(deepdescent, epochs)


def run_keras(epochs: int) -> tuple[float, float]:
    import keras

    return _fit(keras, epochs)


def _fit(keras: Any, epochs: int) -> tuple[float, float]:
    x, y, xt, yt = load()
    keras.utils.set_random_seed(0)
    model = _keras_like(keras)
    model.compile(
        optimizer=keras.optimizers.Adam(LR),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    return seconds, float(model.evaluate(xt, yt, verbose=0)[1])


def run_torch_loop(epochs: int) -> tuple[float, float]:
    """The same network in torch.nn, channels-first tensors preloaded, a permutation per
    epoch, torch.optim.Adam, cross-entropy from the logits."""
    import torch

    x, y, xt, yt = load()
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64 * 7 * 7, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    images = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(y.astype("int64"))
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(images))
        for i in range(0, len(images), BATCH):
            index = order[i : i + BATCH]
            loss = loss_fn(net(images[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        test = torch.from_numpy(xt).permute(0, 3, 1, 2)
        accuracy = (net(test).argmax(1) == torch.from_numpy(yt.astype("int64"))).float().mean()
    return seconds, float(accuracy)


RUNNERS = {
    "deepdescent": run_deepdescent,
    "torch_loop": run_torch_loop,
    "keras_jax": run_keras,
    "keras_torch": run_keras,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--child", choices=VARIANTS, help="run one variant (internal)")
    args = parser.parse_args()
    if args.child:
        run_child(lambda: RUNNERS[args.child](args.epochs))
        return
    chosen = [v for v in args.variants if available(v)]
    results = measure(__file__, plan(chosen, {}), args.repeats, ["--epochs", str(args.epochs)])
    report(
        f"CNN fit on Fashion-MNIST: {args.epochs} epochs, batch {BATCH}, Adam, "
        f"{os.cpu_count()} CPUs, median of {args.repeats} fresh processes, interleaved",
        results,
        [v for v in args.variants if not available(v)],
    )


if __name__ == "__main__":
    main()
