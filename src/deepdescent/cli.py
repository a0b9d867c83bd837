"""The ``deepdescent`` command.

``deepdescent train`` runs the lecture's recipe end to end on a real dataset: a
784-32-10 network (sigmoid hidden layer, softmax output), categorical cross-entropy,
minibatch SGD with batch 128 for 10 epochs and a 10% validation split, on Fashion-MNIST.
Every flag changes one ingredient. Results go to a run folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from deepdescent.recipe import (
    DATASETS,
    DEFAULTS,
    build_model,
    load_dataset,
    make_optimizer,
    resolve_device,
)
from deepdescent.utils._argparse import json_object, positive_int
from deepdescent.utils.io import atomic_write_bytes


def _optimizer_names() -> list[str]:
    from deepdescent.optimizers import catalogue

    return catalogue.names()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepdescent", description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="command", required=True)
    train = verbs.add_parser("train", help="train the lecture's recipe (or a variation of it)")
    train.add_argument("--dataset", choices=DATASETS, default=DEFAULTS["dataset"])
    train.add_argument("--data-dir", default=None, help="folder holding the IDX files")
    train.add_argument(
        "--optimizer",
        default=DEFAULTS["optimizer"],
        metavar="NAME",
        help=f"optimizer name, one of: {', '.join(_optimizer_names())} (default: sgd)",
    )
    train.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: the optimizer's, 0.01 for SGD)",
    )
    train.add_argument(
        "--optimizer-args",
        type=json_object,
        default={},
        metavar="JSON",
        help='other hyperparameters by name, e.g. \'{"momentum": 0.9, "nesterov": true}\'',
    )
    train.add_argument("--epochs", type=positive_int, default=DEFAULTS["epochs"])
    train.add_argument("--batch-size", type=positive_int, default=DEFAULTS["batch_size"])
    train.add_argument(
        "--hidden",
        type=positive_int,
        nargs="+",
        default=DEFAULTS["hidden"],
        help="hidden layer widths (default: 32)",
    )
    train.add_argument("--activation", default=DEFAULTS["activation"], help="hidden activation")
    train.add_argument("--validation-split", type=float, default=DEFAULTS["validation_split"])
    train.add_argument(
        "--raw-pixels",
        action="store_true",
        help="feed 0-255 pixels as the lecture's slide does (default: scale to [0, 1])",
    )
    train.add_argument(
        "--limit", type=positive_int, default=None, help="use only the first N training samples"
    )
    train.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    train.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... or auto")
    train.add_argument(
        "--output", default=None, help="run folder (default: runs/DATASET-OPTIMIZER-TIMESTAMP)"
    )
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    train.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files to RUN/tensorboard (needs tensorboard)",
    )
    from deepdescent.diagnostics.report import add_arguments, command
    from deepdescent.viz.movie_command import add_movie_arguments, run_movie

    movie = verbs.add_parser("movie", help="animate optimizers' paths on a 2-D test function")
    add_movie_arguments(movie)
    movie.set_defaults(handler=run_movie)
    diagnose = verbs.add_parser("diagnose", help="diagnostics of a run folder or the recipe")
    add_arguments(diagnose)
    diagnose.set_defaults(handler=command)
    from deepdescent.bench.command import add_compare_arguments, run_compare

    compare = verbs.add_parser("compare", help="compare optimizers on a problem, with a report")
    add_compare_arguments(compare)
    compare.set_defaults(handler=run_compare)
    return parser


def _write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())


def _callbacks(out: Path, tensorboard: bool) -> list[Any]:
    """A CSV log of every epoch, and TensorBoard event files when asked for."""
    from deepdescent.callbacks import CSVLogger, TensorBoard

    chosen: list[Any] = [CSVLogger(out / "log.csv")]
    if tensorboard:
        chosen.append(TensorBoard(out / "tensorboard", histogram_freq=1))
    return chosen


def train(args: argparse.Namespace) -> dict[str, float]:
    from deepdescent.utils import set_random_seed
    from deepdescent.viz import plot_history

    try:
        optimizer = make_optimizer(args.optimizer, args.lr, args.optimizer_args)
        device = resolve_device(args.device)
    except ValueError as error:
        raise SystemExit(f"deepdescent: {error}") from None
    set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_dataset(
        args.dataset, args.data_dir, args.raw_pixels, args.limit
    )
    model = build_model(x_train.shape[1], args.hidden, args.activation, f"{args.dataset}_mlp")
    model.to(device)
    model.compile(
        optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy", "zero_one_loss"]
    )
    out = Path(
        args.output or f"runs/{args.dataset}-{args.optimizer}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    out.mkdir(parents=True, exist_ok=True)
    if args.verbose:
        model.summary()
    started = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=args.verbose,
        validation_split=args.validation_split,
        callbacks=_callbacks(out, args.tensorboard),
    )
    seconds = time.perf_counter() - started
    test = cast(dict[str, float], model.evaluate(x_test, y_test, verbose=0, return_dict=True))
    results = {f"test_{k}": v for k, v in test.items()} | {"fit_seconds": seconds}
    _write_json(out / "history.json", history.history)
    _write_json(out / "metrics.json", {"config": vars(args), "results": results})
    plot_history(
        history.history,
        out / "curves.png",
        title=f"{args.dataset}: {args.optimizer}, batch {args.batch_size}",
    )
    model.save(out / "model.deepdescent")
    sys.stdout.write(
        f"test loss: {test['loss']:.4f} - test accuracy: {test['accuracy']:.4f}\n"
        f"run folder: {out}\n"
    )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        if not 0.0 <= args.validation_split < 1.0:
            build_parser().error("--validation-split must be in [0, 1)")
        train(args)
    else:
        args.handler(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
