"""Movies: what every frame draws is exactly the recorded iterates; the GIF, PNG and MP4
files are complete and open; the contours, marks and legend say what they should."""

from __future__ import annotations

import os
import stat
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from deepdescent.problems import get_function, record_trajectories
from deepdescent.viz import movie
from deepdescent.viz.movie import PathMovie, save_movie

DPI = 30  # small frames keep the tests fast


@pytest.fixture(scope="module")
def rosenbrock_paths():
    """Three paths of 8 steps; SGD at lr 0.1 diverges after a few of them."""
    function = get_function("rosenbrock")
    paths = record_trajectories(
        function, ["sgd", "adam", "lbfgs"], 8, settings={"sgd": {"lr": 0.1}}
    )
    assert paths[0].diverged_at is not None and paths[0].steps < 8
    return function, paths


@pytest.fixture
def no_ffmpeg(monkeypatch):
    monkeypatch.setattr(movie.shutil, "which", lambda name: None)


def _snapshot(drawn):
    """What the artists of ``drawn`` hold now, keyed by the frame its counter shows."""
    frame = int(drawn._counter.get_text().removeprefix("step "))
    return frame, {
        "paths": [np.column_stack(line.get_data()) for line in drawn.paths],
        "heads": [np.column_stack(line.get_data()) for line in drawn.heads],
        "surface": [np.column_stack(line.get_data_3d()) for line in drawn.surface_paths],
        "shift": drawn._scale.shift,
    }


@pytest.mark.parametrize("surface", [False, True], ids=["plane", "surface"])
def test_every_rendered_frame_draws_exactly_the_iterates(
    rosenbrock_paths, tmp_path, monkeypatch, no_ffmpeg, surface
):
    function, paths = rosenbrock_paths
    rendered = []
    image = PathMovie.image

    def spy(self):
        rendered.append(_snapshot(self))
        return image(self)

    monkeypatch.setattr(PathMovie, "image", spy)
    save_movie(function, paths, tmp_path / "m.gif", surface=surface, dpi=DPI)
    frames = 1 + max(p.steps for p in paths)
    assert {frame for frame, _ in rendered} == set(range(frames))
    for frame, drawn in rendered:
        for index, path in enumerate(paths):
            shown = path.points[: frame + 1]
            np.testing.assert_array_equal(drawn["paths"][index], shown)
            np.testing.assert_array_equal(drawn["heads"][index], shown[-1:])
            if surface:
                height = np.log10(path.values[: frame + 1] + drawn["shift"])
                expected = np.column_stack([shown, height])
                np.testing.assert_array_equal(drawn["surface"][index], expected)
        assert drawn["surface"] == [] or surface


def test_the_gif_has_one_frame_per_step_and_the_png_is_the_last(
    rosenbrock_paths, tmp_path, no_ffmpeg
):
    function, paths = rosenbrock_paths
    files = save_movie(function, paths, tmp_path / "movie.gif", fps=10, dpi=DPI)
    assert files.mp4 is None
    assert sorted(os.listdir(tmp_path)) == ["movie.gif", "movie.png"]  # no partial files
    with Image.open(files.gif) as gif:
        assert gif.format == "GIF" and gif.n_frames == 9
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
        last = np.asarray(gif.convert("RGB"), dtype=float)
        size = gif.size
    assert durations[:-1] == [100] * 8 and durations[-1] == 1000 * movie.FINAL_HOLD
    with Image.open(files.png) as png:
        assert png.format == "PNG" and png.size == size
        still = np.asarray(png.convert("RGB"), dtype=float)
    assert np.abs(still - last).mean() < 3.0  # the same picture, up to the GIF's palette


def test_contour_levels_are_log_spaced_and_the_minimum_is_marked(rosenbrock_paths):
    function, paths = rosenbrock_paths
    drawn = PathMovie(function, paths, dpi=DPI)
    axes = drawn.figure.axes[0]
    filled = axes.collections[0]
    ratios = np.diff(np.log(filled.levels))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    assert filled.levels[-1] / filled.levels[0] == pytest.approx(1e6, rel=0.01)
    stars = [line for line in axes.lines if line.get_marker() == "*"]
    assert [np.column_stack(s.get_data()).tolist() for s in stars] == [[[1.0, 1.0]]]
    labels = [t.get_text() for t in drawn.figure.legends[0].get_texts()]
    diverged = f"sgd (lr=0.1), diverged at step {paths[0].diverged_at}"
    assert labels == ["minimum", "start", diverged, "adam (lr=0.1)", "lbfgs (max_iter=1)"]


def test_no_pyplot_figure_is_left_open_and_the_backend_is_left_alone(rosenbrock_paths, tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    matplotlib.use("svg")  # not Agg, so that a switch to Agg would show
    try:
        function, paths = rosenbrock_paths
        save_movie(function, paths, tmp_path / "m.gif", surface=True, dpi=DPI)
        assert plt.get_fignums() == [] and matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(backend)


def test_a_saddle_gets_symmetric_log_levels_and_a_saddle_mark():
    function = get_function("saddle")
    paths = record_trajectories(function, ["sgd"], 2)
    axes = PathMovie(function, paths, dpi=DPI).figure.axes[0]
    levels = axes.collections[0].levels
    np.testing.assert_allclose(levels, -levels[::-1])
    positive = levels[levels > 0]
    ratios = np.diff(np.log(positive))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    (mark,) = [line for line in axes.lines if line.get_marker() == "X"]
    assert np.column_stack(mark.get_data()).tolist() == [[0.0, 0.0]]


def _fake_ffmpeg(folder, body):
    """An executable ``ffmpeg`` in ``folder`` running the Python ``body``."""
    script = folder / "ffmpeg"
    script.write_text(f"#!{sys.executable}\nimport sys\n{textwrap.dedent(body)}")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def test_frames_are_piped_to_ffmpeg_as_raw_rgb_into_an_mp4(rosenbrock_paths, tmp_path, monkeypatch):
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    _fake_ffmpeg(
        bin_folder,
        """
        data = sys.stdin.buffer.read()
        with open(sys.argv[-1], "w") as out:
            out.write(f"{len(data)}\\n" + " ".join(sys.argv[1:]))
        """,
    )
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    function, paths = rosenbrock_paths
    files = save_movie(function, paths, tmp_path / "out" / "m.gif", fps=12, dpi=DPI)
    assert files.mp4 == tmp_path / "out" / "m.mp4"
    written, arguments = files.mp4.read_text().split("\n")
    with Image.open(files.gif) as gif:
        width, height = gif.size
        frames = gif.n_frames
    assert int(written) == frames * width * height * 3
    assert f"-s {width}x{height} -r 12 -i -" in arguments and "-f mp4" in arguments
    assert sorted(os.listdir(tmp_path / "out")) == ["m.gif", "m.mp4", "m.png"]


def test_an_ffmpeg_failure_is_reported_and_leaves_no_mp4(rosenbrock_paths, tmp_path, monkeypatch):
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    _fake_ffmpeg(
        bin_folder,
        """
        sys.stdin.buffer.read()
        sys.stderr.write("Unknown encoder 'libx264'")
        sys.exit(1)
        """,
    )
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    function, paths = rosenbrock_paths
    with pytest.raises(RuntimeError, match=r"ffmpeg could not encode the movie .*libx264"):
        save_movie(function, paths, tmp_path / "out" / "m.gif", dpi=DPI)
    assert sorted(os.listdir(tmp_path / "out")) == ["m.gif", "m.png"]


@pytest.mark.skipif(movie.shutil.which("ffmpeg") is None, reason="needs ffmpeg on the PATH")
def test_a_real_ffmpeg_writes_an_mp4(rosenbrock_paths, tmp_path):
    function, paths = rosenbrock_paths
    files = save_movie(function, paths, tmp_path / "m.gif", dpi=DPI)
    assert files.mp4 is not None and files.mp4.read_bytes()[4:8] == b"ftyp"


def test_bad_arguments_are_refused_before_drawing(rosenbrock_paths, tmp_path):
    function, paths = rosenbrock_paths
    with pytest.raises(
        ValueError, match=r"Invalid out: '.*m\.png' \(expected a path ending in .gif"
    ):
        save_movie(function, paths, tmp_path / "m.png")
    with pytest.raises(ValueError, match="Invalid fps: 0"):
        save_movie(function, paths, tmp_path / "m.gif", fps=0)
    with pytest.raises(ValueError, match="Invalid trajectories"):
        save_movie(function, [], tmp_path / "m.gif")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match=r"Invalid frame: 9 \(expected an int in \[0, 8\]\)"):
        PathMovie(function, paths, dpi=DPI).draw(9)
