"""The run folder of a comparison: the tables (Markdown and CSV), the plots, everything
recorded (JSON), and ``report.html``, one page that holds them all. Every file is
written atomically."""

from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path
from typing import Any

from deepdescent.bench.compare import Comparison
from deepdescent.bench.summary import (
    markdown_table,
    quantities,
    rows_csv,
    runs_csv,
    search_csv,
    summarize,
    table_cells,
)
from deepdescent.utils.io import atomic_write_bytes

__all__ = ["FILES", "check_output_folder", "versions", "write_run_folder"]

#: The files of a run folder (``search.png`` only when some optimizer was searched).
FILES = (
    "summary.md",
    "summary.csv",
    "runs.csv",
    "search.csv",
    "results.json",
    "curves_epoch.png",
    "curves_time.png",
    "search.png",
    "report.html",
)


def check_output_folder(out: str | Path, overwrite: bool) -> Path:
    """``out`` as a path, or a ``ValueError`` if it exists and ``overwrite`` is false."""
    folder = Path(out)
    if folder.exists() and not overwrite:
        raise ValueError(
            f"Invalid out: {str(folder)!r} (expected a folder that does not exist yet; "
            "pass --overwrite to write into it)"
        )
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"Invalid out: {str(folder)!r} (expected a folder, it is a file)")
    return folder


def versions(device: str) -> dict[str, str]:
    """What produced the results: Python, the platform, the packages and the device."""
    import matplotlib
    import numpy
    import torch

    import deepdescent

    machine = torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"
    return {
        "deepdescent": deepdescent.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "matplotlib": matplotlib.__version__,
        "platform": platform.platform(),
        "device": f"{device} ({machine}, {torch.get_num_threads()} CPU threads)",
    }


def _write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _results(comparison: Comparison, command: str) -> dict[str, Any]:
    problem = comparison.problem
    return {
        "command": command,
        "versions": versions(comparison.device),
        "problem": {"name": problem.name, "summary": problem.summary},
        "target": {"metric": comparison.target.metric, "value": comparison.target.value},
        "epochs": comparison.epochs,
        "seeds": list(comparison.seeds),
        "search_budget": dataclasses.asdict(comparison.budget),
        "optimizers": [
            {
                "optimizer": result.optimizer,
                "search": dataclasses.asdict(result.search),
                "runs": [dataclasses.asdict(run) for run in result.runs],
            }
            for result in comparison.results
        ],
    }


def _json(value: Any) -> str:
    """Strict JSON: a value that is not finite is written as ``null``."""
    from deepdescent.diagnostics.report import strict

    return json.dumps(strict(value), indent=1, allow_nan=False) + "\n"


def write_run_folder(comparison: Comparison, out: str | Path, *, command: str) -> list[Path]:
    """Write the run folder of ``comparison`` into ``out`` (created if needed) and
    return the files written. ``command`` is the command line that made it."""
    from deepdescent.viz.comparison import plot_curves, plot_search

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    rows, names = summarize(comparison), quantities(comparison)
    title = f"{comparison.problem.name}: {', '.join(r.optimizer for r in comparison.results)}"
    _write_text(
        folder / "summary.md",
        f"# {title}\n\nTarget: {comparison.target}.\n\n" + markdown_table(rows, names),
    )
    _write_text(folder / "summary.csv", rows_csv(rows, names))
    _write_text(folder / "runs.csv", runs_csv(comparison))
    _write_text(folder / "search.csv", search_csv(comparison))
    _write_text(folder / "results.json", _json(_results(comparison, command)))
    curves = {r.optimizer: [run.curves for run in r.runs] for r in comparison.results}
    for against in ("epoch", "time"):
        plot_curves(curves, folder / f"curves_{against}.png", against=against, title=title)
    searched = {
        r.optimizer: (
            [t.learning_rate for t in r.search.trials],
            [t.score for t in r.search.trials],
            r.search.chosen.hyperparameters.get("lr"),
        )
        for r in comparison.results
        if r.search.trials
    }
    if searched:
        plot_search(searched, comparison.target.metric, folder / "search.png")
    else:  # an overwritten folder keeps no plot of an earlier search
        (folder / "search.png").unlink(missing_ok=True)
    _write_report(comparison, folder, command, title, bool(searched))
    return [folder / name for name in FILES if (folder / name).exists()]


def _write_report(
    comparison: Comparison, folder: Path, command: str, title: str, searched: bool
) -> None:
    from deepdescent.viz.report import ReportFigure, ReportTable, write_report

    Blocks = list[str | ReportTable | ReportFigure]
    header, body = table_cells(summarize(comparison), quantities(comparison))
    budget, target = comparison.budget, comparison.target
    overview: Blocks = [
        f"Problem: {comparison.problem.summary}.",
        f"Each optimizer trained for {comparison.epochs} epochs from each of "
        f"{len(comparison.seeds)} seed(s); for a given seed every optimizer starts from the "
        "same initial weights and sees the same minibatches. Values are the mean ± standard "
        "deviation over the seeds, at the final weights; wall time is training time, "
        "evaluation left out.",
        f"Target: {target} (AlgoPerf-style time to result: the epoch and the training time "
        "at the end of which it was first met).",
        "Evaluations: the loss-and-gradient evaluations (closure calls) of a run; a method "
        "with a line search makes several per step.",
        ReportTable("summary", "Final results", header, body),
    ]
    curves: Blocks = [
        ReportFigure(
            "curves-epoch",
            "Loss and accuracy against epoch (mean over seeds; band: least to greatest seed)",
            folder / "curves_epoch.png",
        ),
        ReportFigure(
            "curves-time", "Loss and accuracy against training time", folder / "curves_time.png"
        ),
    ]
    search: Blocks = [
        f"A grid of {budget.trials} learning rates from 1/{budget.span:g} to {budget.span:g} "
        f"times each optimizer's working rate, log-spaced, each trained for {budget.epochs} "
        f"epoch(s) from seed 0 and scored by {target.metric} on the validation set (never "
        "the test set); the best is kept.",
        ReportTable(
            "search",
            "Trials",
            ["optimizer", "lr", target.metric, "chosen"],
            [*_trial_rows(comparison)],
        ),
    ]
    if searched:
        search.append(ReportFigure("search-plot", "Learning-rate search", folder / "search.png"))
    runs: Blocks = [ReportTable("runs", "Every run", *_run_cells(comparison))]
    write_report(
        folder / "report.html",
        title=f"Optimizer comparison — {title}",
        command=command,
        versions=versions(comparison.device),
        sections=[
            ("Comparison", overview),
            ("Learning curves", curves),
            ("Learning-rate search", search),
            ("Runs", runs),
        ],
    )


def _trial_rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for result in comparison.results:
        chosen = result.search.chosen.hyperparameters.get("lr")
        for trial in result.search.trials:
            score = "diverged" if trial.diverged else f"{trial.score:.4f}"
            mark = "★" if trial.learning_rate == chosen else ""
            rows.append([result.optimizer, f"{trial.learning_rate:.3g}", score, mark])
        if result.search.note:
            rows.append([result.optimizer, "—", result.search.note, ""])
    return rows


def _run_cells(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    names = quantities(comparison)
    header = ["optimizer", "seed", "wall time (s)", "evaluations", "target at epoch", *names]
    rows = []
    for result in comparison.results:
        for run in result.runs:
            outcome = [f"{run.final[q]:.4f}" if q in run.final else "—" for q in names]
            reached = "—" if run.target_epoch is None else str(run.target_epoch)
            if run.diverged:
                reached = f"diverged in epoch {run.diverged_at}" + (
                    f" ({run.note})" if run.note else ""
                )
            rows.append(
                [
                    run.optimizer,
                    str(run.seed),
                    f"{run.seconds:.2f}",
                    str(run.evaluations),
                    reached,
                    *outcome,
                ]
            )
    return header, rows
