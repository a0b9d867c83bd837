"""``deepdescent compare``: optimizers side by side on one problem, with a learning-rate
search each, several seeds, and a run folder with the tables, the plots and
``report.html``.

    deepdescent compare --problem lecture-mlp \\
        --optimizers sgd,momentum,nesterov,adagrad,rmsprop,adam,lbfgs \\
        --seeds 3 --epochs 10 --out runs/lecture-comparison
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from typing import Any

from deepdescent.utils._argparse import names, optimizer_settings, positive_int

__all__ = ["DEFAULT_OPTIMIZERS", "add_compare_arguments", "command_line", "run_compare"]

#: The optimizers of the lecture's comparison (issue 12), the default.
DEFAULT_OPTIMIZERS = "sgd,momentum,nesterov,adagrad,rmsprop,adam,lbfgs"


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``deepdescent compare``."""
    from deepdescent.problems import PROBLEMS

    parser.add_argument(
        "--problem", default="lecture_mlp", help=f"one of: {', '.join(PROBLEMS)} (lecture_mlp)"
    )
    parser.add_argument(
        "--optimizers",
        type=names,
        default=names(DEFAULT_OPTIMIZERS),
        help=f"comma-separated names of the optimizer catalogue ({DEFAULT_OPTIMIZERS})",
    )
    parser.add_argument(
        "--optimizer-args",
        type=optimizer_settings,
        default={},
        metavar="JSON",
        help='hyperparameters over the working settings, e.g. \'{"adam": {"lr": 0.01}}\'',
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=3, help="runs per optimizer, seeds 0 ... N-1"
    )
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument(
        "--target", type=float, default=None, help="value of the problem's target metric to reach"
    )
    parser.add_argument(
        "--search-trials", type=int, default=5, help="learning rates tried per optimizer (0: none)"
    )
    parser.add_argument(
        "--search-epochs",
        type=positive_int,
        default=None,
        help="epochs per trial (a quarter of --epochs)",
    )
    parser.add_argument(
        "--search-span", type=float, default=10.0, help="grid from lr/SPAN to lr*SPAN (10)"
    )
    parser.add_argument("--data-dir", default=None, help="folder holding the dataset's files")
    parser.add_argument(
        "--limit", type=positive_int, default=None, help="use only the first N training samples"
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... or auto")
    parser.add_argument("--out", default=None, help="run folder (runs/compare-PROBLEM-TIMESTAMP)")
    parser.add_argument(
        "--overwrite", action="store_true", help="write into --out even if it exists"
    )
    parser.add_argument("--verbose", type=int, choices=(0, 1), default=1, help="progress bars")


def _device(name: str) -> Any:
    from deepdescent.recipe import resolve_device

    try:
        return resolve_device(name)
    except RuntimeError:  # torch's for a name it does not know
        raise ValueError(f"Invalid device: {name!r} (expected cpu, cuda, cuda:N or auto)") from None


def command_line(args: argparse.Namespace, problem: str, optimizers: list[str], budget: Any) -> str:
    """The command that reproduces a comparison, every option spelled out."""
    words = ["deepdescent", "compare", "--problem", problem, "--optimizers", ",".join(optimizers)]
    if args.optimizer_args:
        words += ["--optimizer-args", json.dumps(args.optimizer_args)]
    words += ["--seeds", str(args.seeds), "--epochs", str(args.epochs)]
    if args.target is not None:
        words += ["--target", repr(args.target)]
    words += ["--search-trials", str(budget.trials), "--search-epochs", str(budget.epochs)]
    words += ["--search-span", repr(budget.span), "--device", str(args.device)]
    for flag, value in (("--data-dir", args.data_dir), ("--limit", args.limit)):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join([*words, "--out", str(args.out)])


def run_compare(args: argparse.Namespace) -> None:
    """Check every argument, run the comparison, write the run folder, and print the
    table. Bad input ends the command with a message before any training."""
    from deepdescent.bench.compare import compare, optimizer_names
    from deepdescent.bench.run_folder import check_output_folder, write_run_folder
    from deepdescent.bench.search import SearchBudget
    from deepdescent.bench.summary import markdown_table, quantities, summarize
    from deepdescent.problems import DataSource, get_problem

    try:
        problem = get_problem(args.problem)
        optimizers = optimizer_names(args.optimizers)
        args.out = args.out or f"runs/compare-{problem.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        out = check_output_folder(args.out, args.overwrite)
        search_epochs = args.search_epochs
        if search_epochs is None:
            search_epochs = max(1, math.ceil(args.epochs / 4))
        budget = SearchBudget(args.search_trials, search_epochs, args.search_span)
        device = _device(args.device)
        comparison = compare(
            problem,
            optimizers,
            seeds=args.seeds,
            epochs=args.epochs,
            target=args.target,
            budget=budget,
            source=DataSource(args.data_dir, args.limit),
            device=device,
            settings=args.optimizer_args,
            progress=sys.stdout if args.verbose else None,
        )
    except ValueError as error:
        raise SystemExit(f"deepdescent compare: {error}") from None
    files = write_run_folder(
        comparison, out, command=command_line(args, problem.name, optimizers, budget)
    )
    table = markdown_table(summarize(comparison), quantities(comparison))
    sys.stdout.write(f"\nTarget: {comparison.target}\n\n{table}\n")
    sys.stdout.write(f"run folder: {out} ({', '.join(f.name for f in files)})\n")
