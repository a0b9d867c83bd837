"""The comparison's tables: one row per optimizer, each quantity as the mean ± standard
deviation over its seeds, and time to the target, AlgoPerf-style.

A quantity's statistics are over the seeds where it is finite (a diverged run has no
final metrics); the standard deviation is the sample one (n − 1), left out for a single
seed. Epochs and time to the target are over the seeds that reached it, with how many did;
"not reached" when none did.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Iterable, Sequence

import numpy as np

from deepdescent.bench.compare import Comparison, OptimizerResult
from deepdescent.bench.search import learning_rate

__all__ = [
    "QUANTITIES",
    "Row",
    "Statistic",
    "markdown_table",
    "quantities",
    "rows_csv",
    "runs_csv",
    "search_csv",
    "summarize",
    "table_cells",
]

#: The final quantities, training first, as the table names them.
QUANTITIES = {
    "loss": "train loss",
    "accuracy": "train acc.",
    "val_loss": "val. loss",
    "val_accuracy": "val. acc.",
    "test_loss": "test loss",
    "test_accuracy": "test acc.",
}


@dataclasses.dataclass(frozen=True)
class Statistic:
    """Mean and sample standard deviation of the finite values among ``count`` given."""

    mean: float
    std: float
    finite: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Statistic:
        kept = np.array([v for v in values if math.isfinite(v)], dtype=np.float64)
        if len(kept) == 0:
            return cls(math.nan, math.nan, 0)
        std = float(kept.std(ddof=1)) if len(kept) > 1 else 0.0
        return cls(float(kept.mean()), std, len(kept))

    def format(self, spec: str) -> str:
        if self.finite == 0:
            return "—"
        if self.finite == 1:
            return format(self.mean, spec)
        return f"{self.mean:{spec}} ± {self.std:{spec}}"


@dataclasses.dataclass(frozen=True)
class Row:
    """One optimizer's line of the table."""

    optimizer: str
    learning_rate: float
    batch_size: int | None
    finals: dict[str, Statistic]
    seconds: Statistic
    evaluations: Statistic
    target_epochs: Statistic
    target_seconds: Statistic
    runs: int
    diverged: int

    @property
    def reached(self) -> int:
        return self.target_epochs.finite

    @property
    def status(self) -> str:
        if self.diverged == 0:
            return "ok"
        if self.diverged == self.runs:
            return "diverged"
        return f"diverged ({self.diverged}/{self.runs} seeds)"


def quantities(comparison: Comparison) -> list[str]:
    """The final quantities the problem has (no accuracy for a loss-only problem)."""
    metrics = comparison.problem.metrics
    return [q for q in QUANTITIES if "accuracy" not in q or "accuracy" in metrics]


def _value(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _row(result: OptimizerResult, names: Sequence[str]) -> Row:
    runs = result.runs
    return Row(
        optimizer=result.optimizer,
        learning_rate=learning_rate(result.optimizer, result.search.chosen),
        batch_size=result.search.chosen.batch_size,
        finals={q: Statistic.of(r.final.get(q, math.nan) for r in runs) for q in names},
        seconds=Statistic.of(r.seconds for r in runs),
        evaluations=Statistic.of(float(r.evaluations) for r in runs),
        target_epochs=Statistic.of(_value(r.target_epoch) for r in runs),
        target_seconds=Statistic.of(_value(r.target_seconds) for r in runs),
        runs=len(runs),
        diverged=sum(r.diverged for r in runs),
    )


def summarize(comparison: Comparison) -> list[Row]:
    """A :class:`Row` per optimizer, in the comparison's order."""
    names = quantities(comparison)
    return [_row(result, names) for result in comparison.results]


def _reached(row: Row, statistic: Statistic, spec: str) -> str:
    if row.reached == 0:
        return "not reached"
    text = statistic.format(spec)
    return text if row.reached == row.runs else f"{text} ({row.reached}/{row.runs} seeds)"


def _batch(batch_size: int | None) -> str:
    return "full" if batch_size is None else str(batch_size)


def table_cells(rows: Sequence[Row], names: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """The summary table as text cells: its header and one list per optimizer."""
    header = [
        "optimizer",
        "lr",
        "batch",
        *(QUANTITIES[q] for q in names),
        "wall time (s)",
        "epochs to target",
        "time to target (s)",
        "evaluations",
        "status",
    ]
    body = [
        [
            row.optimizer,
            f"{row.learning_rate:.3g}",
            _batch(row.batch_size),
            *(row.finals[q].format(".4f") for q in names),
            row.seconds.format(".2f"),
            _reached(row, row.target_epochs, ".1f"),
            _reached(row, row.target_seconds, ".2f"),
            row.evaluations.format(".0f"),
            row.status,
        ]
        for row in rows
    ]
    return header, body


def markdown_table(rows: Sequence[Row], names: Sequence[str]) -> str:
    """The summary table in Markdown."""
    header, body = table_cells(rows, names)
    lines = [header, ["---"] * len(header), *body]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines) + "\n"


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def rows_csv(rows: Sequence[Row], names: Sequence[str]) -> str:
    """The summary table as CSV, with the mean and standard deviation in columns of their
    own; empty where there is no value."""
    measured = [*names, "seconds", "evaluations", "target_epochs", "target_seconds"]
    header = ["optimizer", "lr", "batch_size", "status", "runs", "diverged", "target_reached"]
    header += [f"{name}_{part}" for name in measured for part in ("mean", "std")]

    def statistics(row: Row) -> list[Statistic]:
        return [
            *(row.finals[q] for q in names),
            row.seconds,
            row.evaluations,
            row.target_epochs,
            row.target_seconds,
        ]

    body = [
        [
            row.optimizer,
            _number(row.learning_rate),
            _batch(row.batch_size),
            row.status,
            row.runs,
            row.diverged,
            row.reached,
            *(_number(v) for s in statistics(row) for v in (s.mean, s.std)),
        ]
        for row in rows
    ]
    return _csv(header, body)


def runs_csv(comparison: Comparison) -> str:
    """Every run: its optimizer, seed, setting, outcome and final quantities."""
    names = quantities(comparison)
    header = [
        "optimizer",
        "seed",
        "lr",
        "batch_size",
        "diverged_at",
        "seconds",
        "evaluations",
        "target_epoch",
        "target_seconds",
        *names,
        "note",
    ]
    body = [
        [
            run.optimizer,
            run.seed,
            _number(learning_rate(run.optimizer, run.setting)),
            _batch(run.setting.batch_size),
            run.diverged_at or "",
            _number(run.seconds),
            run.evaluations,
            run.target_epoch or "",
            _number(run.target_seconds),
            *(_number(run.final.get(q)) for q in names),
            run.note,
        ]
        for result in comparison.results
        for run in result.runs
    ]
    return _csv(header, body)


def search_csv(comparison: Comparison) -> str:
    """Every trial of the searches, and which learning rate each optimizer kept."""
    header = ["optimizer", "lr", "metric", "score", "diverged", "seconds", "chosen"]
    body = [
        [
            result.optimizer,
            _number(trial.learning_rate),
            result.search.metric,
            _number(trial.score),
            trial.diverged,
            _number(trial.seconds),
            trial.learning_rate == result.search.chosen.hyperparameters.get("lr"),
        ]
        for result in comparison.results
        for trial in result.search.trials
    ]
    return _csv(header, body)
