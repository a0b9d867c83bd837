"""K-FAC with KFC's convolution factors (Grosse & Martens 2016) against Adam and against
K-FAC whose convolutions take the first-order fallback, on a small CNN on Fashion-MNIST.

The network: Conv2D(16, 3, relu, "same") → MaxPooling2D → Conv2D(32, 3, relu, "same") →
MaxPooling2D → Flatten → Dense(10, softmax), sparse categorical cross-entropy, batch 128,
the first ``--train`` training images and the first ``--test`` test images, the same
initial weights (seed 0) for every variant (``--draw N`` trains on a random draw of
``--train`` images instead, NumPy's generator seeded with N). The variants:

* ``adam``: Adam, lr ``--adam-lr`` (1e-3, Keras's default);
* ``kfac``: K-FAC (adaptive: α, μ and λ from the quadratic model, sampled Fisher), every
  layer preconditioned, the convolutions by KFC;
* ``kfac_fallback``: the same K-FAC, but the convolutions are a Conv2D subclass the recorder
  registry skips, so their kernels take the documented first-order step (only the Dense
  layer is preconditioned).

K-FAC runs with ``curvature_fraction=1`` (the quadratic model on the whole minibatch of
128; see KFAC's docstring) and λ₀ = ``--damping`` (KFAC's default, 1e-3, unless given).
Each variant trains for ``--epochs`` in a fresh process,
``--repeats`` interleaved rounds; the table gives the median fit time, its ratio to Adam's,
and the median test error.

    python benchmarks/kfc_cnn.py [--epochs 2] [--train 4000] [--test 2000] [--repeats 3]
                                 [--damping 1e-3] [--adam-lr 1e-3] [--draw 0]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

# The script's folder is on the path when it runs: the shared driver is a sibling.
from _peers import measure, run_child

BATCH = 128
VARIANTS = ("adam", "kfac", "kfac_fallback")


def run(args: argparse.Namespace, variant: str) -> tuple[float, float]:
    import numpy as np

    import deepdescent as keras
    from deepdescent.datasets import fashion_mnist
    from deepdescent.layers.recording import register_recorder

    class FallbackConv2D(keras.layers.Conv2D):
        """A Conv2D the recorder registry does not record: K-FAC's fallback."""

    register_recorder(FallbackConv2D, lambda name, layer: None)
    conv = FallbackConv2D if variant == "kfac_fallback" else keras.layers.Conv2D
    (x, y), (xt, yt) = fashion_mnist.load_data()
    chosen = np.arange(args.train)
    if args.draw:
        chosen = np.random.default_rng(args.draw).choice(len(x), args.train, replace=False)
    x, xt = x[chosen, ..., None] / 255.0, xt[: args.test, ..., None] / 255.0
    y, yt = y[chosen], yt[: args.test]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            conv(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            conv(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    optimizer = (
        keras.optimizers.Adam(args.adam_lr)
        if variant == "adam"
        else keras.optimizers.KFAC(curvature_fraction=1.0, damping=args.damping)
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the fallback's notice
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=args.epochs, verbose=0)
        seconds = time.perf_counter() - start
    return seconds, float(model.evaluate(xt, yt, verbose=0)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--damping", type=float, default=1e-3)
    parser.add_argument("--adam-lr", type=float, default=1e-3)
    parser.add_argument(
        "--draw", type=int, default=0, help="0: the first --train images; N: N's random draw"
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--child", choices=VARIANTS, help="run one variant (internal)")
    args = parser.parse_args()
    if args.child:
        run_child(lambda: run(args, args.child))
        return
    names = ("epochs", "train", "test", "damping", "adam_lr", "draw")
    extra = [f"--{name.replace('_', '-')}={getattr(args, name)}" for name in names]
    entries = [(v, v, None) for v in args.variants]
    results = measure(__file__, entries, args.repeats, extra)
    adam = next((r for r in results if r["variant"] == "adam"), None)
    print(
        f"small CNN on Fashion-MNIST: {args.train} training images, {args.epochs} epochs, "
        f"batch {BATCH}, Adam lr {args.adam_lr}, K-FAC damping {args.damping}, test error on "
        f"{args.test}; "
        f"{os.cpu_count()} CPUs, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, median of "
        f"{args.repeats} fresh processes, interleaved"
    )
    print(f"{'variant':<16}{'median s':>10}{'vs Adam':>9}{'test error':>12}  runs (s)")
    for r in results:
        ratio = f"{r['median_s'] / adam['median_s']:.2f}x" if adam else "-"
        error = 100 * (1 - r["accuracy"])
        print(f"{r['variant']:<16}{r['median_s']:>10.2f}{ratio:>9}{error:>11.2f}%  {r['runs_s']}")


if __name__ == "__main__":
    main()
