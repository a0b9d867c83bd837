"""``deepdescent compare`` end to end on tiny IDX files, its refusals, and the command it
records, which parses back to the same comparison."""

from __future__ import annotations

import csv
import io
import json
import shlex
from pathlib import Path

import pytest

from deepdescent.bench.run_folder import FILES
from deepdescent.cli import build_parser, main

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _arguments(data, out, *more):
    return [
        "compare",
        "--problem",
        "lecture-mlp",
        "--optimizers",
        "sgd, lbfgs",
        "--seeds",
        "2",
        "--epochs",
        "2",
        "--search-trials",
        "2",
        "--data-dir",
        str(data),
        "--limit",
        "200",
        "--out",
        str(out),
        *more,
    ]


def test_the_command_writes_the_run_folder_and_prints_the_table(tiny_fashion, tmp_path, capsys):
    out = tmp_path / "comparison"
    main(_arguments(tiny_fashion, out, "--optimizer-args", '{"lbfgs": {"max_iter": 4}}'))
    printed = capsys.readouterr().out
    assert "search lbfgs 2/2: lr=" in printed and "sgd, seed 1, lr=" in printed
    assert "Target: val_accuracy ≥ 0.84" in printed
    assert f"run folder: {out}" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    record = json.loads((out / "results.json").read_text())
    chosen = record["optimizers"][0]["search"]["chosen"]["hyperparameters"]["lr"]
    assert f"| sgd | {chosen:.3g} | 128 |" in printed
    assert record["search_budget"] == {"trials": 2, "epochs": 1, "span": 10.0}
    assert record["optimizers"][1]["runs"][0]["setting"]["hyperparameters"]["max_iter"] == 4
    command = shlex.split(record["command"])
    assert command[:2] == ["deepdescent", "compare"]
    again = build_parser().parse_args(command[1:])
    given = build_parser().parse_args(_arguments(tiny_fashion, out))
    for name in ("seeds", "epochs", "search_trials", "limit", "data_dir", "out"):
        assert getattr(again, name) == getattr(given, name), name
    assert again.optimizers == ["sgd", "lbfgs"] and again.problem == "lecture_mlp"
    assert again.optimizer_args == {"lbfgs": {"max_iter": 4}}


def test_an_existing_folder_is_refused_before_any_training(tiny_fashion, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    with pytest.raises(SystemExit, match=r"Invalid out.*pass --overwrite"):
        main(_arguments(tiny_fashion, out))
    assert capsys.readouterr().out == ""
    main([*_arguments(tiny_fashion, out, "--overwrite", "--verbose", "0"), "--seeds", "1"])
    assert (out / "report.html").exists()
    assert "search sgd" not in capsys.readouterr().out, "--verbose 0: no progress"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--problem", "mnist-cnn"], r"Unknown problem 'mnist-cnn'.*Valid names: beale"),
        (["--optimizers", "sgd,adamw2"], r"Unknown optimizer 'adamw2'.*Valid names: adabelief"),
        (["--search-span", "0.5"], r"Invalid span: 0.5"),
        (["--device", "tpu"], r"Invalid device: 'tpu'"),
        (["--optimizer-args", '{"nadam": {}}'], r"Invalid settings: \['nadam'\]"),
    ],
)
def test_bad_input_ends_the_command_with_a_message(tiny_fashion, tmp_path, change, message):
    with pytest.raises(SystemExit, match=f"deepdescent compare: {message}"):
        main([*_arguments(tiny_fashion, tmp_path / "out"), *change])
    assert not (tmp_path / "out").exists()


@pytest.mark.realdata
@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_the_lecture_comparison_on_fashion_mnist(tmp_path):
    """A short version of the comparison in BENCHMARKS.md: SGD, Adam and L-BFGS on the
    lecture's network, searched, 2 epochs each, every one well past chance."""
    out = tmp_path / "lecture"
    main(
        [
            "compare",
            "--problem",
            "lecture-mlp",
            "--optimizers",
            "sgd,adam,lbfgs",
            "--seeds",
            "1",
            "--epochs",
            "2",
            "--search-trials",
            "3",
            "--out",
            str(out),
            "--verbose",
            "0",
        ]
    )
    rows = {
        r["optimizer"]: r for r in csv.DictReader(io.StringIO((out / "summary.csv").read_text()))
    }
    assert list(rows) == ["sgd", "adam", "lbfgs"]
    for name, row in rows.items():
        assert row["status"] == "ok", name
        assert float(row["test_accuracy_mean"]) > 0.75, name
    assert float(rows["sgd"]["evaluations_mean"]) == 2 * 422, "54,000 images in batches of 128"
    assert float(rows["lbfgs"]["evaluations_mean"]) > 2, (
        "one full-batch step an epoch, several evaluations each"
    )
