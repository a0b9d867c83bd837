"""Gradient clipping on a character-level LSTM (Goodfellow et al., §8.2.4 and §10.11.1):
the same network trained twice on the shipped corpus, with and without clipping the
gradient's norm, and the trace of the gradient norm ‖g‖ at every step of each.

Recurrent networks multiply by the same weights at every step, so the loss surface has
cliffs where ‖g‖ jumps by orders of magnitude; a step along such a gradient throws the
weights far away. Clipping (``global_clipnorm=c``: g ← g · c / max(‖g‖, c)) keeps the
direction and bounds the step. The script prints, per run, the largest ‖g‖, how many
steps exceeded the clipping threshold, and the loss at the start and the end, and draws
both traces and losses (``--out``, a PNG).

    python benchmarks/char_lstm_clipping.py [--epochs 30] [--lr 20] [--clipnorm 1.0]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

import deepdescent as keras
from deepdescent.callbacks import Callback
from deepdescent.datasets import corpus
from deepdescent.preprocessing.text import Tokenizer

WINDOW, STRIDE, BATCH, UNITS = 40, 3, 64, 64


class GradientNorms(Callback):
    """‖g‖ of each training step, read from the gradients as back-propagation leaves
    them (before the optimizer clips them)."""

    needs_autograd = True

    def __init__(self) -> None:
        super().__init__()
        self.norms: list[float] = []
        self._squares: list[torch.Tensor] = []
        self._handles: list[Any] = []

    def on_train_begin(self, logs: Any = None) -> None:
        self._handles = [
            p.register_hook(lambda g: self._squares.append(g.detach().pow(2).sum()))
            for p in self.model.parameters()
            if p.requires_grad
        ]

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.norms.append(math.sqrt(float(torch.stack(self._squares).sum())))
        self._squares.clear()

    def on_train_end(self, logs: Any = None) -> None:
        for handle in self._handles:
            handle.remove()


def windows() -> tuple[np.ndarray, np.ndarray, int]:
    """Every STRIDE-th window of WINDOW characters and the character after it."""
    tokenizer = Tokenizer(char_level=True, lower=False)
    text = corpus.load_data()
    tokenizer.fit_on_texts([text])
    ids = np.array(tokenizer.texts_to_sequences([text])[0])
    starts = range(0, len(ids) - WINDOW, STRIDE)
    x = np.stack([ids[s : s + WINDOW] for s in starts])
    y = np.array([ids[s + WINDOW] for s in starts])
    return x, y, len(tokenizer.word_index) + 1


def train(clipnorm: float | None, lr: float, epochs: int) -> dict[str, Any]:
    x, y, vocabulary = windows()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(WINDOW,)),
            keras.layers.Embedding(vocabulary, 16),
            keras.layers.LSTM(UNITS),
            keras.layers.Dense(vocabulary, activation="softmax"),
        ]
    )
    options = {} if clipnorm is None else {"global_clipnorm": clipnorm}
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr, **options),
        loss="sparse_categorical_crossentropy",
    )
    norms = GradientNorms()
    history = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[norms])
    return {"norms": norms.norms, "loss": history.history["loss"]}


def draw(runs: dict[str, dict[str, Any]], clipnorm: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=False)
    for label, run in runs.items():
        top.semilogy(run["norms"], label=label, linewidth=0.8)
        bottom.plot(run["loss"], label=label)
    top.axhline(clipnorm, color="grey", linestyle="--", linewidth=0.8, label="clipping threshold")
    top.set(xlabel="training step", ylabel="‖g‖ (before clipping)")
    bottom.set(xlabel="epoch", ylabel="training loss")
    top.legend()
    bottom.legend()
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=20.0)
    parser.add_argument("--clipnorm", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("runs/char_lstm_clipping.png"))
    args = parser.parse_args()
    runs = {
        "no clipping": train(None, args.lr, args.epochs),
        f"global_clipnorm={args.clipnorm}": train(args.clipnorm, args.lr, args.epochs),
    }
    print(f"char LSTM on the shipped corpus: SGD lr {args.lr}, {args.epochs} epochs, batch {BATCH}")
    print(f"{'run':<24}{'max ‖g‖':>10}{'steps > c':>11}{'loss first':>12}{'loss last':>11}")
    for label, run in runs.items():
        norms = np.array(run["norms"])
        print(
            f"{label:<24}{norms.max():>10.2f}{int((norms > args.clipnorm).sum()):>11}"
            f"{run['loss'][0]:>12.4f}{run['loss'][-1]:>11.4f}"
        )
    draw(runs, args.clipnorm, args.out)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
