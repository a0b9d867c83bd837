"""The comparison's tables from runs written out by hand: means and sample standard
deviations against NumPy, time to target over the seeds that reached it, statuses, and
the CSV files read back."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from deepdescent.bench import Comparison, OptimizerResult, RunRecord, Search, SearchBudget, Trial
from deepdescent.bench.summary import (
    Statistic,
    markdown_table,
    quantities,
    rows_csv,
    runs_csv,
    search_csv,
    summarize,
    table_cells,
)
from deepdescent.problems import Setting

NAMES = ["loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"]


def _run(optimizer, seed, value, *, reached=None, diverged_at=None, note=""):
    final = {} if diverged_at else {name: value + i / 10 for i, name in enumerate(NAMES)}
    return RunRecord(
        optimizer=optimizer,
        seed=seed,
        setting=Setting({"lr": 0.1}, 16),
        curves={"epoch": [0.0, 1.0], "time": [0.0, 1.0 + seed]},
        final=final,
        seconds=1.0 + seed,
        evaluations=10 * (seed + 1),
        diverged_at=diverged_at,
        target_epoch=reached,
        target_seconds=None if reached is None else 0.5 * reached,
        note=note,
    )


def _result(optimizer, runs, trials=()):
    chosen = Setting({"lr": 0.1}, 16)
    search = Search(optimizer, Setting({"lr": 0.3}, 16), tuple(trials), chosen, "val_accuracy")
    return OptimizerResult(optimizer, search, tuple(runs))


@pytest.fixture
def comparison(blobs):
    results = (
        _result(
            "adam",
            [_run("adam", s, 0.2 * s, reached=s + 1) for s in range(3)],
            [
                Trial(0.3, 0.5, False, 1.0),
                Trial(0.1, 0.8, False, 1.0),
                Trial(3.0, math.nan, True, 0.1),
            ],
        ),
        _result("sgd", [_run("sgd", 0, 1.0, reached=2), _run("sgd", 1, 2.0), _run("sgd", 2, 4.0)]),
        _result(
            "lbfgs",
            [
                _run("lbfgs", 0, 0.5),
                _run("lbfgs", 1, 0, diverged_at=1, note="ValueError: nan"),
                _run("lbfgs", 2, 0, diverged_at=2),
            ],
        ),
    )
    return Comparison(blobs, blobs.target, 2, (0, 1, 2), SearchBudget(3), "cpu", results)


def test_statistics_are_numpys_mean_and_sample_deviation_of_the_finite_values():
    values = [0.3, 0.5, 1.25, math.nan]
    statistic = Statistic.of(values)
    assert statistic.mean == pytest.approx(np.mean(values[:3]))
    assert statistic.std == pytest.approx(np.std(values[:3], ddof=1))
    assert statistic.finite == 3
    assert (
        statistic.format(".2f") == f"{np.mean(values[:3]):.2f} ± {np.std(values[:3], ddof=1):.2f}"
    )
    assert Statistic.of([2.0]).format(".1f") == "2.0"
    assert Statistic.of([math.nan, math.inf]).format(".1f") == "—"


def test_a_row_per_optimizer_with_its_status_and_time_to_target(comparison):
    header, rows = table_cells(summarize(comparison), quantities(comparison))
    assert header[:4] == ["optimizer", "lr", "batch", "train loss"]
    assert header[-5:] == [
        "wall time (s)",
        "epochs to target",
        "time to target (s)",
        "evaluations",
        "status",
    ]
    adam, sgd, lbfgs = (dict(zip(header, row, strict=True)) for row in rows)
    assert adam["train loss"] == "0.2000 ± 0.2000"
    assert adam["val. acc."] == "0.5000 ± 0.2000"
    assert adam["epochs to target"] == "2.0 ± 1.0"
    assert adam["time to target (s)"] == "1.00 ± 0.50"
    assert adam["wall time (s)"] == "2.00 ± 1.00"
    assert adam["evaluations"] == "20 ± 10"
    assert adam["status"] == "ok" and adam["lr"] == "0.1" and adam["batch"] == "16"
    assert sgd["epochs to target"] == "2.0 (1/3 seeds)"
    assert sgd["train loss"] == f"{np.mean([1, 2, 4]):.4f} ± {np.std([1, 2, 4], ddof=1):.4f}"
    assert lbfgs["epochs to target"] == "not reached"
    assert lbfgs["status"] == "diverged (2/3 seeds)"
    assert lbfgs["train loss"] == "0.5000", "over the one seed that did not diverge"


def test_markdown_has_a_line_per_optimizer(comparison):
    lines = markdown_table(summarize(comparison), quantities(comparison)).splitlines()
    assert len(lines) == 2 + 3
    assert lines[1].startswith("| --- |")
    assert lines[4].startswith("| lbfgs | 0.1 | 16 | 0.5000 |")


def test_the_csv_tables_read_back(comparison):
    rows = list(csv.DictReader(io.StringIO(rows_csv(summarize(comparison), NAMES))))
    assert [row["optimizer"] for row in rows] == ["adam", "sgd", "lbfgs"]
    assert float(rows[0]["val_loss_mean"]) == pytest.approx(np.mean([0.2, 0.4, 0.6]))
    assert float(rows[1]["loss_std"]) == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert rows[2]["target_epochs_mean"] == "" and rows[2]["diverged"] == "2"
    assert rows[1]["target_reached"] == "1"
    runs = list(csv.DictReader(io.StringIO(runs_csv(comparison))))
    assert len(runs) == 9
    assert runs[7]["diverged_at"] == "1" and runs[7]["note"] == "ValueError: nan"
    assert runs[7]["loss"] == "" and float(runs[6]["test_accuracy"]) == pytest.approx(1.0)
    trials = list(csv.DictReader(io.StringIO(search_csv(comparison))))
    assert [(t["lr"], t["chosen"], t["diverged"]) for t in trials] == [
        ("0.3", "False", "False"),
        ("0.1", "True", "False"),
        ("3.0", "False", "True"),
    ]
    assert trials[2]["score"] == ""


def test_a_loss_only_problem_has_no_accuracy_columns(comparison):
    from dataclasses import replace

    loss_only = replace(comparison, problem=replace(comparison.problem, metrics=()))
    assert quantities(loss_only) == ["loss", "val_loss", "test_loss"]
