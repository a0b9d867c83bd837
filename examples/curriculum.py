"""Curriculum learning helps where it is known to: parities with mixed inputs
(Goodfellow et al. §8.7.6; Abbe, Cornacchia & Lotfi 2023).

The target is the parity of k = 5 of n = 30 bits, y = x₁x₂x₃x₄x₅ with x ∈ {−1, +1}ⁿ — a
function gradient descent finds slowly from uniform inputs, where no fewer than k bits
say anything about y. The training set mixes 4,000 inputs: 10 % sparse ones (each bit −1
with probability 0.1) and 90 % uniform ones. An example's difficulty is its number of −1
bits: on the sparse, easy inputs the parity is nearly a function of single bits, which
gradient descent picks up at once, and what it learns there carries over. A two-layer
ReLU network (128 units, SGD with momentum 0.9, ε = 0.05, batch 64) is trained for 20
epochs in random order, with a ``Curriculum`` (linear pacing from the easiest 10 % to
all examples at epoch 10), and with Zaremba & Sutskever's ``StochasticCurriculum``
(half of each epoch's examples drawn from the whole set); each is evaluated every epoch
on 5,000 uniform inputs.

What it shows (seed 0): in random order the network is still at chance (0.50) after
10 epochs and reaches 0.85 after 20; with the curriculum it is at 0.95 after 10 epochs
and 1.00 from the 13th; the stochastic curriculum, which keeps half of every epoch
uniform, is in between (0.52 after 10 epochs, 0.91 after 20).

Run: ``python examples/curriculum.py [--epochs 20] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers import SGD
from deepdescent.strategies import Curriculum, StochasticCurriculum
from deepdescent.utils import set_random_seed

ORDERS = ("random order", "curriculum", "stochastic curriculum")


def parity_data(
    samples: int, bits: int = 30, relevant: int = 5, sparse: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs in {−1, +1}^bits — the first ``sparse`` fraction with P(−1) = 0.1, the rest
    uniform — and the parity of the first ``relevant`` bits as a 0/1 label."""
    rng = np.random.default_rng(seed)
    minus = rng.random((samples, bits)) < 0.5
    easy = int(sparse * samples)
    minus[:easy] = rng.random((easy, bits)) < 0.1
    x = np.where(minus, -1.0, 1.0)
    y = (x[:, :relevant].prod(axis=1) > 0).astype("float32")
    return x.astype("float32"), y[:, None]


def run(
    samples: int = 4000,
    bits: int = 30,
    relevant: int = 5,
    epochs: int = 20,
    orders: tuple[str, ...] = ORDERS,
    seed: int = 0,
) -> dict[str, list[float]]:
    """order → the test accuracy on uniform inputs after each epoch."""
    x, y = parity_data(samples, bits, relevant, seed=seed)
    test = parity_data(5000, bits, relevant, sparse=0.0, seed=seed + 1)
    difficulty = (x < 0).sum(axis=1)
    shuffles = {
        "random order": True,
        "curriculum": Curriculum(difficulty, "linear", start=0.1, epochs=epochs // 2),
        "stochastic curriculum": StochasticCurriculum(
            difficulty, "linear", start=0.1, epochs=epochs // 2, mix=0.5
        ),
    }
    results = {}
    for name in orders:
        set_random_seed(seed)
        model = Sequential(
            [Dense(128, activation="relu", input_shape=(bits,)), Dense(1, activation="sigmoid")]
        )
        model.compile(SGD(lr=0.05, momentum=0.9), "binary_crossentropy", metrics=["accuracy"])
        history = model.fit(
            x,
            y,
            batch_size=64,
            epochs=epochs,
            shuffle=shuffles[name],
            validation_data=test,
            validation_batch_size=5000,
            verbose=0,
        )
        results[name] = history.history["val_accuracy"]
    return results


def plot(results: dict[str, list[float]], path: str) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.subplots()
    for name, accuracy in results.items():
        ax.plot(range(1, len(accuracy) + 1), accuracy, marker="o", label=name)
    ax.set(xlabel="epoch", ylabel="test accuracy (uniform inputs)", title="Parity of 5 of 30 bits")
    ax.legend()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="curriculum.png")
    args = parser.parse_args(argv)
    results = run(epochs=args.epochs)
    for name, accuracy in results.items():
        middle = accuracy[len(accuracy) // 2 - 1]
        sys.stdout.write(f"{name:22} halfway {middle:.3f}  end {accuracy[-1]:.3f}\n")
    plot(results, args.out)
    sys.stdout.write(f"wrote {args.out}\n")


if __name__ == "__main__":
    main()
