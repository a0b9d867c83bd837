"""Fair comparisons of optimizers: a learning-rate search per optimizer on the validation
set, runs from the same initial weights and data order per seed, and a run folder with
the tables, the plots and an HTML report (``deepdescent compare``)."""

from __future__ import annotations

from deepdescent.bench.compare import Comparison, OptimizerResult, compare, optimizer_names
from deepdescent.bench.run import DeviceData, RunRecord, train_run
from deepdescent.bench.run_folder import check_output_folder, versions, write_run_folder
from deepdescent.bench.search import Search, SearchBudget, Trial, search_learning_rate
from deepdescent.bench.summary import Row, Statistic, markdown_table, summarize

__all__ = [
    "Comparison",
    "DeviceData",
    "OptimizerResult",
    "Row",
    "RunRecord",
    "Search",
    "SearchBudget",
    "Statistic",
    "Trial",
    "check_output_folder",
    "compare",
    "markdown_table",
    "optimizer_names",
    "search_learning_rate",
    "summarize",
    "train_run",
    "versions",
    "write_run_folder",
]
