"""`deepdescent diagnose` on tiny IDX files: the report folder, the replay, bad folders."""

from __future__ import annotations

import json
import math

import pytest

from deepdescent.cli import main
from deepdescent.diagnostics.report import strict

PNG = b"\x89PNG\r\n\x1a\n"
SMALL = ["--probe-size", "48", "--resolution", "4", "--verbose", "0"]


@pytest.fixture
def run(tiny_fashion, tmp_path):
    folder = tmp_path / "run"
    recipe = [
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--lr",
        "0.5",
        "--hidden",
        "4",
        "--limit",
        "200",
    ]
    main(
        [
            "train",
            "--data-dir",
            str(tiny_fashion),
            *recipe,
            "--output",
            str(folder),
            "--verbose",
            "0",
        ]
    )
    return folder


def test_diagnose_a_run_folder(run, tiny_fashion, capsys):
    main(["diagnose", str(run), "--data-dir", str(tiny_fashion), *SMALL])
    printed = capsys.readouterr().out
    report_folder = run / "diagnostics"
    assert f"report folder: {report_folder}" in printed
    text = (report_folder / "report.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    report = json.loads(text)
    # The replay reaches the saved model bit for bit: same seed, same steps.
    assert report["replay"]["max_abs_difference_from_saved_model"] == 0.0
    assert report["parameters"] == 784 * 4 + 4 + 4 * 10 + 10
    hessian = report["hessian"]
    assert hessian["method"] == "lanczos" and hessian["top"]["converged"]  # n > EXACT_LIMIT
    assert hessian["top"]["values"] == sorted(hessian["top"]["values"], reverse=True)
    assert hessian["smallest"]["values"][0] <= hessian["top"]["values"][-1]
    assert len(report["training"]["gradient_norms"]) == 3 * 6  # 180 training examples / 32
    assert report["learning"]["epochs"] == 3
    line = report["interpolation"]["training probe"]
    assert line["alphas"][10] == 0.0 and line["alphas"][30] == 1.0
    assert len(report["surface"]["losses"]) == 4
    for name in report["figures"]:
        assert (report_folder / name).read_bytes()[:8] == PNG
    assert {"figure_8_1.png", "hessian_spectrum.png", "trajectory.png"} <= set(report["figures"])


def test_no_replay_analyzes_the_saved_model_only(run, tiny_fashion, tmp_path):
    out = tmp_path / "report"
    main(
        [
            "diagnose",
            str(run),
            "--no-replay",
            "--output",
            str(out),
            "--data-dir",
            str(tiny_fashion),
            *SMALL,
        ]
    )
    report = json.loads((out / "report.json").read_text())
    assert "training" not in report and "replay" not in report
    assert "figure_8_1.png" not in report["figures"] and "interpolation.png" in report["figures"]


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(SystemExit, match=r"Invalid run: .* missing model\.deepdescent"):
        main(["diagnose", str(tmp_path), *SMALL])
    with pytest.raises(SystemExit, match="not a folder"):
        main(["diagnose", str(tmp_path / "absent"), *SMALL])
    with pytest.raises(SystemExit, match="Invalid replay"):
        main(["diagnose", "--no-replay", *SMALL])


def test_strict_json_has_no_nan():
    value = strict({"a": [1.0, math.nan, math.inf], "b": (-math.inf,)})
    assert json.dumps(value, allow_nan=False) == '{"a": [1.0, null, null], "b": [null]}'
