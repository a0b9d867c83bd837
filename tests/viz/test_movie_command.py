"""`deepdescent movie` end to end into a temporary folder, and its errors."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from deepdescent.cli import main
from deepdescent.problems import get_function, noisy, record_trajectories
from deepdescent.viz import movie


@pytest.fixture(autouse=True)
def no_ffmpeg(monkeypatch):
    monkeypatch.setattr(movie.shutil, "which", lambda name: None)


def test_the_command_writes_the_movie_of_the_paths_it_reports(tmp_path, capsys):
    out = tmp_path / "movies" / "himmelblau.gif"
    settings = {"adam": {"lr": 0.2}, "sgd": {"lr": 0.005}}
    main(
        [
            "movie",
            "--function",
            "himmelblau",
            "--optimizers",
            "sgd, nesterov,adam,lbfgs",
            "--steps",
            "6",
            "--out",
            str(out),
            "--optimizer-args",
            json.dumps(settings),
            "--start=-0.3,-0.9",
            "--noise",
            "0.5",
            "--seed",
            "4",
            "--surface",
            "--fps",
            "10",
            "--dpi",
            "30",
        ]
    )
    printed = capsys.readouterr().out.splitlines()
    function = noisy(get_function("himmelblau"), 0.5, seed=4)
    paths = record_trajectories(
        function, ["sgd", "nesterov", "adam", "lbfgs"], 6, start=(-0.3, -0.9), settings=settings
    )
    for line, path in zip(printed[:-1], paths, strict=True):
        x, y = path.points[-1]
        assert line.split() == [
            f"{path.optimizer}:",
            f"f({x:.4g},",
            f"{y:.4g})",
            "=",
            f"{path.values[-1]:.4g}",
        ]
    assert printed[-1] == f"wrote {out}, {out.with_suffix('.png')}"
    with Image.open(out) as gif:
        assert gif.n_frames == 7
    with Image.open(out.with_suffix(".png")) as png:
        assert png.format == "PNG"


def test_the_defaults_draw_rosenbrock_into_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["movie", "--steps", "3", "--dpi", "20"])
    printed = capsys.readouterr().out
    assert [line.split(":")[0].strip() for line in printed.splitlines()[:3]] == [
        "sgd",
        "momentum",
        "adam",
    ]
    with Image.open(tmp_path / "rosenbrock.gif") as gif:
        assert gif.n_frames == 4
    assert (tmp_path / "rosenbrock.png").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--function", "rosenbrok"], r"Unknown function 'rosenbrok'.*Valid names: beale, booth"),
        (["--optimizers", "sgd,adamm"], r"Unknown optimizer 'adamm'.*Valid names: .*momentum"),
        (["--start=5,0"], r"Invalid start: \(5.0, 0.0\) .*rosenbrock's domain"),
        (["--optimizer-args", '{"lion": {"lr": 1}}'], r"Invalid settings: \['lion'\]"),
        (["--out", "movie.png"], r"Invalid out: 'movie.png' \(expected a path ending in .gif\)"),
    ],
)
def test_bad_names_and_values_end_the_command_with_a_message(tmp_path, monkeypatch, flags, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["movie", "--steps", "2", *flags])
    assert str(stop.value.code).startswith("deepdescent movie: ")
    assert re.search(message, str(stop.value.code)), stop.value.code
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--start", "1"], "expected a point x,y"),
        (["--optimizer-args", "{nope"], "expected a JSON object"),
        (["--optimizer-args", '{"adam": 0.1}'], 'expected {"optimizer": {"hyperparameter"'),
        (["--steps", "0"], "expected a positive integer"),
        (["--optimizers", ","], "expected comma-separated names"),
        (["--noise", "-1"], "expected a number >= 0"),
    ],
)
def test_malformed_flags_are_usage_errors(flags, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["movie", *flags])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
