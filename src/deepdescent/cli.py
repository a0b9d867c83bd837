"""deepdescent: optimization for training deep models, from the command line.

deepdescent train runs the lecture's recipe end to end on a real dataset: a 784-32-10
network (sigmoid hidden layer, softmax output), categorical cross-entropy, minibatch SGD
with batch 128 for 10 epochs and a 10% validation split, on Fashion-MNIST. Every flag
changes one ingredient. Results go to a run folder.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import threading
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


def _activation_names() -> list[str]:
    from deepdescent import activations

    return activations.names()


EXAMPLES = """\
examples:
  deepdescent train                                  the lecture's recipe, as on the slide
  deepdescent train --optimizer adam --lr 0.001 --epochs 5 --hidden 128 64
  deepdescent train --backup-dir runs/backup         run it again after a crash: it resumes
  deepdescent movie --function rosenbrock --optimizers sgd,momentum,adam
  deepdescent compare --problem lecture-mlp --optimizers sgd,adam --seeds 3
"""

TRAIN_EXAMPLES = """\
examples:
  deepdescent train
  deepdescent train --raw-pixels                     0-255 pixels, exactly as the slide
  deepdescent train --optimizer sgd --lr 0.1 --epochs 5 --hidden 128 64 --activation relu
  deepdescent train --optimizer adam --optimizer-args '{{"amsgrad": true}}'
  deepdescent train --dataset mnist --data-dir /path/to/idx/files --device cuda
  deepdescent train --backup-dir runs/backup --save-freq 100

The run folder gets history.json, metrics.json (strict JSON), curves.png and
model.deepdescent, kept up to date after every epoch: Ctrl-C (exit 130) or SIGTERM
(exit 143) leave the last finished epoch there. Non-finite training values stop the run
with exit 1, keeping the last good model.

optimizers:
{optimizers}

activations:
{activations}
"""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after every help text, and the examples as they are written."""


# Ends a help text that says its default in words: the formatter then adds no
# "(default: None)" (it looks for a %(default) field; this one prints nothing).
_SAID = "%(default).0s"


def _wrapped(names: list[str]) -> str:
    import textwrap

    return textwrap.fill(", ".join(names), width=88, initial_indent="  ", subsequent_indent="  ")


def build_parser() -> argparse.ArgumentParser:
    from deepdescent import __version__

    summary = __doc__.split("\n\n")[0]
    parser = argparse.ArgumentParser(
        prog="deepdescent",
        description=summary,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"deepdescent {__version__}")
    verbs = parser.add_subparsers(dest="command", required=True)
    train = verbs.add_parser(
        "train",
        help="train the lecture's recipe (or a variation of it)",
        description=__doc__.split("\n\n")[1],
        epilog=TRAIN_EXAMPLES.format(
            optimizers=_wrapped(_optimizer_names()), activations=_wrapped(_activation_names())
        ),
        formatter_class=_HelpFormatter,
    )
    add_train_arguments(train)
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


def _split(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument("--dataset", choices=DATASETS, default=DEFAULTS["dataset"], help="data set")
    train.add_argument(
        "--data-dir",
        default=None,
        help="folder holding the IDX files (default: $DEEPDESCENT_DATA, then "
        "/usr/share/datasets, then download)" + _SAID,
    )
    train.add_argument(
        "--optimizer",
        default=DEFAULTS["optimizer"],
        metavar="NAME",
        help="optimizer name (listed below)",
    )
    train.add_argument(
        "--lr", type=float, default=None, help="learning rate (default: the optimizer's)" + _SAID
    )
    train.add_argument(
        "--optimizer-args",
        type=json_object,
        default={},
        metavar="JSON",
        help='other hyperparameters by name, e.g. \'{"momentum": 0.9, "nesterov": true}\'',
    )
    train.add_argument(
        "--epochs", type=positive_int, default=DEFAULTS["epochs"], help="passes over the data"
    )
    train.add_argument(
        "--batch-size", type=positive_int, default=DEFAULTS["batch_size"], help="minibatch size"
    )
    train.add_argument(
        "--hidden",
        type=positive_int,
        nargs="+",
        default=DEFAULTS["hidden"],
        help="hidden layer widths",
    )
    train.add_argument(
        "--activation", default=DEFAULTS["activation"], help="hidden activation (listed below)"
    )
    train.add_argument(
        "--validation-split",
        type=_split,
        default=DEFAULTS["validation_split"],
        help="fraction held out, in [0, 1)",
    )
    train.add_argument(
        "--raw-pixels",
        action="store_true",
        help="feed 0-255 pixels as the lecture's slide does (else scale to [0, 1])",
    )
    train.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="use only the first N training samples (default: all)" + _SAID,
    )
    train.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="random seed")
    train.add_argument("--device", default=DEFAULTS["device"], help="cpu, cuda, cuda:1 ... or auto")
    train.add_argument(
        "--output",
        default=None,
        help="run folder (default: runs/DATASET-OPTIMIZER-TIMESTAMP)" + _SAID,
    )
    train.add_argument(
        "--overwrite", action="store_true", help="replace the run already in --output"
    )
    train.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=1, help="0 silent, 1 bar, 2 lines"
    )
    train.add_argument(
        "--backup-dir",
        default=None,
        metavar="DIR",
        help="back the run up in DIR as it trains; the same command run again resumes "
        "from the last backup, exactly (deleted once training ends normally; default: no "
        "backups)" + _SAID,
    )
    train.add_argument(
        "--save-freq",
        type=positive_int,
        default=None,
        metavar="N",
        help="with --backup-dir: back up every N batches (default: after every epoch)" + _SAID,
    )
    train.add_argument(
        "--nproc",
        type=positive_int,
        default=1,
        metavar="N",
        help="train data-parallel in N processes on this machine (torchrun, gloo on CPU, "
        "NCCL on GPU); --batch-size is the global batch",
    )
    train.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files to RUN/tensorboard (needs tensorboard)",
    )


def _logging_callbacks(out: Path, tensorboard: bool) -> list[Any]:
    """A CSV log of every epoch, and TensorBoard event files when asked for."""
    from deepdescent.callbacks import CSVLogger, TensorBoard

    chosen: list[Any] = [CSVLogger(out / "log.csv")]
    if tensorboard:
        chosen.append(TensorBoard(out / "tensorboard", histogram_freq=1))
    return chosen


class CommandError(Exception):
    """A problem the command reports in one line (exit status 2)."""


def _device(name: str, distributed: bool = False) -> Any:
    """The device named; ``auto`` is CUDA when there is one (in a data-parallel run, the
    GPU of the process's local rank), else the CPU."""
    import torch

    if name == "auto" and distributed and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    try:
        return resolve_device(name)
    except RuntimeError as error:
        raise CommandError(f"--device {name!r} is not a device: {error}") from None


def _strict(value: Any) -> Any:
    """``value`` with every non-finite float as ``None``: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def _write_json(path: Path, value: Any) -> None:
    text = json.dumps(_strict(value), indent=2, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


# What makes a folder a run folder.
_RUN_FILES = ("metrics.json", "history.json", "model.deepdescent")


def _run_status(out: Path) -> str | None:
    """The status of the run in ``out`` (``"finished"``, ``"interrupted"`` ...), ``None``
    when it holds none."""
    if not any((out / name).exists() for name in _RUN_FILES):
        return None
    try:
        return str(json.loads((out / "metrics.json").read_text())["status"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


def prepare_output(out: Path, overwrite: bool, resuming: bool) -> None:
    """Check, before any training, that ``out`` may hold this run and can be written.

    A folder that holds a run is refused unless ``overwrite``, or unless this command
    resumes it from a backup and it did not finish."""
    if out.exists() and not out.is_dir():
        raise CommandError(f"--output {str(out)!r} is a file, not a folder")
    status = _run_status(out)
    if status is not None and not overwrite and not (resuming and status != "finished"):
        raise CommandError(
            f"--output {str(out)!r} already holds a run ({status}); pass --overwrite to "
            "replace it, or choose another folder"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".deepdescent-write-test"
        atomic_write_bytes(probe, b"")
        probe.unlink()
    except OSError as error:
        raise CommandError(f"cannot write to --output {str(out)!r}: {error}") from None


class _Terminated(BaseException):
    """SIGTERM, raised where the process is, as Ctrl-C raises KeyboardInterrupt."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


class RunFolder:
    """The run folder, written as training goes: after every epoch the History and the
    model, atomically, so that an interruption leaves the last finished epoch."""

    def __init__(self, out: Path, args: argparse.Namespace) -> None:
        self.out, self.args = out, args
        #: The History as of the model last saved (what an interrupted run keeps).
        self.saved: dict[str, list[float]] = {}

    def callback(self) -> Any:
        from deepdescent.callbacks import Callback

        folder = self

        class _EveryEpoch(Callback):
            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                folder.write_progress(self.model)

        return _EveryEpoch()

    def write_progress(self, model: Any) -> None:
        # The model first: history.json never names an epoch whose model is not saved.
        model.save(self.out / "model.deepdescent")
        self.saved = {k: list(v) for k, v in model.history.history.items()}
        _write_json(self.out / "history.json", self.saved)

    def finish(self, history: dict[str, list[float]], status: str, results: dict[str, Any]) -> None:
        from deepdescent.viz import plot_history

        _write_json(self.out / "history.json", history)
        config = {k: v for k, v in vars(self.args).items() if k != "handler"}
        _write_json(
            self.out / "metrics.json", {"config": config, "status": status, "results": results}
        )
        if history:
            plot_history(
                history,
                self.out / "curves.png",
                title=f"{self.args.dataset}: {self.args.optimizer}, batch {self.args.batch_size}",
            )


def launch(args: argparse.Namespace, argv: Sequence[str], out: Path) -> int:
    """Run this command again in ``args.nproc`` processes under torchrun (one machine);
    returns their exit status. Rank 0 writes the run folder."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc_per_node={args.nproc}", "-m", "deepdescent.cli"]
    # The processes need no --nproc (torchrun's environment tells them), and torchrun's
    # own parser would take it for its --nproc-per-node.
    own = [a for i, a in enumerate(argv) if not _is_nproc(argv, i)]
    try:
        return subprocess.run([*command, *own, "--output", str(out)], check=False).returncode
    except KeyboardInterrupt:
        return 130


def _is_nproc(argv: Sequence[str], index: int) -> bool:
    """Whether ``argv[index]`` is ``--nproc``, its value, or ``--nproc=N``."""
    here = argv[index]
    return (
        here == "--nproc" or here.startswith("--nproc=") or argv[index - 1 : index] == ["--nproc"]
    )


def train(args: argparse.Namespace, argv: Sequence[str] = ()) -> int:
    """``deepdescent train``: returns the exit status (0, 1 for non-finite training, 130
    for Ctrl-C, 143 for SIGTERM)."""
    from deepdescent.callbacks import History
    from deepdescent.training import NonFiniteError
    from deepdescent.training.distributed import is_primary, launched_by_torchrun
    from deepdescent.utils import set_random_seed

    out = Path(
        args.output or f"runs/{args.dataset}-{args.optimizer}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    primary = is_primary()
    if primary:
        prepare_output(out, args.overwrite, resuming=args.backup_dir is not None)
    if args.nproc > 1 and not launched_by_torchrun():
        return launch(args, argv, out)
    optimizer = make_optimizer(args.optimizer, args.lr, args.optimizer_args)
    set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_dataset(
        args.dataset, args.data_dir, args.raw_pixels, args.limit
    )
    model = build_model(x_train.shape[1], args.hidden, args.activation, f"{args.dataset}_mlp")
    model.to(_device(args.device, distributed=launched_by_torchrun()))
    model.compile(
        optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy", "zero_one_loss"]
    )
    folder = RunFolder(out, args)
    # History first, so that the run folder's writer sees each epoch already recorded.
    history = History()
    callbacks: list[Any] = [history, folder.callback()] if primary else []
    if primary:
        callbacks += _logging_callbacks(out, args.tensorboard)
    if args.backup_dir is not None:
        from deepdescent.callbacks import BackupAndRestore

        callbacks.append(BackupAndRestore(args.backup_dir, save_freq=args.save_freq or "epoch"))
    if args.verbose and primary:
        model.summary()
    started = time.perf_counter()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        model.fit(
            x_train,
            y_train,
            batch_size=args.batch_size,
            epochs=args.epochs,
            verbose=args.verbose,
            validation_split=args.validation_split,
            callbacks=callbacks,
        )
    except (KeyboardInterrupt, _Terminated) as stop:
        code = 130 if isinstance(stop, KeyboardInterrupt) else 143
        if not primary:
            return code
        folder.finish(folder.saved, "interrupted", {"epochs_finished": _epochs(folder.saved)})
        sys.stderr.write(
            f"deepdescent: interrupted; {out} keeps the last finished epoch"
            + (f", {args.backup_dir} the backup to resume from" if args.backup_dir else "")
            + "\n"
        )
        return code
    except NonFiniteError as error:
        if not primary:
            return 1
        model.save(out / "model.deepdescent")
        folder.finish(history.history, "failed: non-finite values", {"error": str(error)})
        sys.stderr.write(f"deepdescent: error: {error} The last good model is in {out}\n")
        return 1
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    seconds = time.perf_counter() - started
    if not primary:
        return 0
    test = cast(dict[str, float], model.evaluate(x_test, y_test, verbose=0, return_dict=True))
    results = {f"test_{k}": v for k, v in test.items()} | {"fit_seconds": seconds}
    model.save(out / "model.deepdescent")
    folder.finish(history.history, "finished", results)
    sys.stdout.write(
        f"test loss: {test['loss']:.4f} - test accuracy: {test['accuracy']:.4f}\n"
        f"run folder: {out}\n"
    )
    return 0


def _epochs(history: dict[str, list[float]]) -> int:
    return len(next(iter(history.values()), []))


def main(argv: Sequence[str] | None = None) -> int:
    """The command: returns its exit status; problems it finds are one line on stderr."""
    from deepdescent.models.saving import ModelFileError

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return train(args, argv)
        args.handler(args)
        return 0
    except KeyboardInterrupt:
        return 130
    except (CommandError, ValueError, TypeError, LookupError, OSError, ModelFileError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        sys.stderr.write(f"deepdescent: error: {message}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
