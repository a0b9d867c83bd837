"""Time ``fit`` of the lecture's workload against its peers, in one run.

The workload: a 784-32-10 network (sigmoid, softmax), categorical cross-entropy, SGD with
learning rate 0.01, batch 128, 10 epochs, 10% validation split, on Fashion-MNIST scaled
to [0, 1]. Each variant runs in a fresh process (so one-off costs such as imports done by
the first optimizer step count the same for all), several times; the medians are printed
with their ratio to deepdescent and the test accuracy reached.

    python benchmarks/lecture_fit.py [--repeats 3] [--variants deepdescent torch_loop ...]
    python benchmarks/lecture_fit.py --sources before=/tmp/old/src after=src \
        --variants deepdescent torch_loop

Each run also reports the CPU seconds of its process once the data are loaded (the
runner: model, ``fit``, test), steadier than wall time on a shared machine. With
``--sources``, the deepdescent variant runs once per source tree (on ``PYTHONPATH``),
interleaved with the others: a before/after comparison of a change.

Keras 3 variants run when ``keras`` (and ``jax`` for its JAX backend) are importable:
``make bench`` installs them into the benchmark's own environment.
"""

from __future__ import annotations

import argparse
import os
import time

# The script's folder is on the path when it runs: the shared driver is a sibling.
from _peers import available, measure, plan, report, run_child, source_tree

EPOCHS, BATCH, LR, SPLIT, HIDDEN = 10, 128, 0.01, 0.1, 32
VARIANTS = ("deepdescent", "torch_loop", "torch_dataloader", "keras_torch", "keras_jax")


def load() -> tuple:
    from deepdescent.datasets import fashion_mnist
    from deepdescent.utils import to_categorical

    (x, y), (xt, yt) = fashion_mnist.load_data()
    x = x.reshape(len(x), -1).astype("float32") / 255
    xt = xt.reshape(len(xt), -1).astype("float32") / 255
    return x, to_categorical(y, 10), xt, to_categorical(yt, 10)


def run_deepdescent(x, y, xt, yt) -> tuple[float, float]:
    import deepdescent as keras
    from deepdescent.layers import Dense
    from deepdescent.models import Sequential

    keras.utils.set_random_seed(0)
    model = Sequential(
        [Dense(HIDDEN, activation="sigmoid", input_shape=(784,)), Dense(10, activation="softmax")]
    )
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, validation_split=SPLIT)
    seconds = time.perf_counter() - start
    return seconds, model.evaluate(xt, yt, verbose=0)[1]


def _torch_model():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, HIDDEN), torch.nn.Sigmoid(), torch.nn.Linear(HIDDEN, 10)
    )
    for layer in (model[0], model[2]):
        torch.nn.init.xavier_uniform_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    return model


def _torch_accuracy(model, x, labels) -> float:
    import torch

    with torch.no_grad():
        return (model(x).argmax(1) == labels).float().mean().item()


def run_torch_loop(x, y, xt, yt) -> tuple[float, float]:
    """The hand-written fast loop: tensors preloaded, a permutation per epoch."""
    import torch

    x, xt = torch.from_numpy(x), torch.from_numpy(xt)
    labels, test_labels = torch.from_numpy(y.argmax(1)), torch.from_numpy(yt.argmax(1))
    split = int(len(x) * (1 - SPLIT))
    x_val, y_val, x, labels = x[split:], labels[split:], x[:split], labels[:split]
    model = _torch_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(EPOCHS):
        order = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            index = order[i : i + BATCH]
            loss = loss_fn(model(x[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            loss_fn(model(x_val), y_val).item()
    seconds = time.perf_counter() - start
    return seconds, _torch_accuracy(model, xt, test_labels)


def run_torch_dataloader(x, y, xt, yt) -> tuple[float, float]:
    """Idiomatic PyTorch: TensorDataset + DataLoader(shuffle=True)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    split = int(len(x) * (1 - SPLIT))
    labels = torch.from_numpy(y.argmax(1))
    train = DataLoader(
        TensorDataset(torch.from_numpy(x[:split]), labels[:split]), batch_size=BATCH, shuffle=True
    )
    x_val, y_val = torch.from_numpy(x[split:]), labels[split:]
    model = _torch_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(EPOCHS):
        for xb, yb in train:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()
        with torch.no_grad():
            loss_fn(model(x_val), y_val).item()
    seconds = time.perf_counter() - start
    return seconds, _torch_accuracy(model, torch.from_numpy(xt), torch.from_numpy(yt.argmax(1)))


def run_keras(x, y, xt, yt) -> tuple[float, float]:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(HIDDEN, activation="sigmoid"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, validation_split=SPLIT)
    seconds = time.perf_counter() - start
    return seconds, float(model.evaluate(xt, yt, verbose=0)[1])


RUNNERS = {
    "deepdescent": run_deepdescent,
    "torch_loop": run_torch_loop,
    "torch_dataloader": run_torch_dataloader,
    "keras_torch": run_keras,
    "keras_jax": run_keras,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--sources", nargs="+", type=source_tree, default=[], help="NAME=SRC: deepdescent trees"
    )
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data = load()  # outside the CPU time measured
        run_child(lambda: RUNNERS[args.child](*data))
        return
    entries = plan([v for v in args.variants if available(v)], dict(args.sources))
    results = measure(__file__, entries, args.repeats)
    report(
        f"lecture fit: {EPOCHS} epochs, batch {BATCH}, {os.cpu_count()} CPUs, "
        f"median of {args.repeats} fresh processes, interleaved",
        results,
        [v for v in args.variants if not available(v)],
    )


if __name__ == "__main__":
    main()
