"""Movies of optimizers' paths on a 2-D function: the lecture's "movies".

Frame k shows every optimizer's iterates θ₀ … θ_k over the function's contours (levels
spaced evenly in log(f − min f), so that both the walls and the valley floor show), its
minima (★) and saddle points (✕) marked, one legend line per optimizer, and optionally a
3-D view of the surface beside it. The movie is written as a GIF (Pillow), as an MP4 when
``ffmpeg`` is on the PATH, and the last frame as a PNG still; each file atomically.

matplotlib is imported when a movie is made, and its figures are drawn on an Agg canvas
of their own (not through pyplot, so a session's backend is left alone). Only the paths
change between frames,
so the rest of the figure is drawn once and the paths are drawn over it (blitting).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import torch

from deepdescent.problems import Function2D, Trajectory
from deepdescent.utils._checks import check_argument, check_count
from deepdescent.utils.io import atomic_path

__all__ = ["MovieFiles", "PathMovie", "save_movie"]

#: Grid points per axis on which the contours and the surface are computed.
RESOLUTION = 200
#: Contour levels, log-spaced over this many decades below the largest value on the grid.
LEVELS, DECADES = 25, 6
#: How long the last frame stays on screen before a GIF loops, in seconds.
FINAL_HOLD = 2.0


@dataclasses.dataclass(frozen=True)
class MovieFiles:
    """The files :func:`save_movie` wrote (``mp4`` is ``None`` without ffmpeg)."""

    gif: Path
    png: Path
    mp4: Path | None


def _label(trajectory: Trajectory) -> str:
    settings = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in sorted(trajectory.settings.items())
    )
    label = f"{trajectory.optimizer} ({settings})" if settings else trajectory.optimizer
    if trajectory.diverged_at is not None:
        label += f", diverged at step {trajectory.diverged_at}"
    return label


class _Scale:
    """How values of f are drawn. A function bounded below gets contour levels evenly
    spaced in log(f − min f + δ), δ = 10⁻⁶ of the range, and the 3-D view shows that
    logarithm; one unbounded below (a saddle) gets levels evenly spaced in log |f| on
    both sides of 0, and the 3-D view shows f."""

    def __init__(self, heights: np.ndarray, minimum: float | None) -> None:
        from matplotlib.colors import LogNorm, SymLogNorm

        self.logarithmic = minimum is not None
        if minimum is not None:
            floor = min(minimum, float(heights.min()))
            spread = float(heights.max()) - floor
            self.shift = max(spread * 10.0**-DECADES, np.finfo(float).tiny) - floor
            self.levels = np.geomspace(
                heights.min() + self.shift, heights.max() + self.shift, LEVELS
            )
            self.norm: Any = LogNorm(vmin=self.levels[0], vmax=self.levels[-1])
            self.cmap, self.zlabel = "Blues_r", "log₁₀(f − min f + δ)"
        else:
            self.shift = 0.0
            largest = float(np.abs(heights).max())
            side = np.geomspace(largest * 10.0**-DECADES, largest, LEVELS // 2)
            self.levels = np.concatenate([-side[::-1], side])
            self.norm = SymLogNorm(side[0], vmin=-largest, vmax=largest)
            self.cmap, self.zlabel = "coolwarm", "f"

    def contoured(self, values: np.ndarray) -> np.ndarray:
        """The values the contours are drawn from."""
        return values + self.shift

    def height(self, values: np.ndarray) -> np.ndarray:
        """The height in the 3-D view (NaN, not drawn, below the grid's floor)."""
        if not self.logarithmic:
            return values
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log10(values + self.shift)


class PathMovie:
    """The figure of a movie and the artists that move in it.

    :meth:`draw` sets frame k (each path holds its iterates θ₀ … θ_k, or all of them if
    it has fewer); :meth:`image` renders the current frame to an RGB array. The paths
    are :attr:`paths` (2-D lines), :attr:`heads` (the current iterates) and, with the
    surface view, :attr:`surface_paths` (3-D lines over the iterates).
    """

    def __init__(
        self,
        function: Function2D,
        trajectories: Sequence[Trajectory],
        *,
        surface: bool = False,
        dpi: int = 100,
    ) -> None:
        check_argument(
            "trajectories", trajectories, len(trajectories) > 0, "at least one trajectory"
        )
        check_count("dpi", dpi)
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.function, self.trajectories = function, list(trajectories)
        self.frames = 1 + max(t.steps for t in self.trajectories)
        self._colors = matplotlib.color_sequences["tab10"]
        x, y, heights = self._grid()
        self._scale = _Scale(heights, function.minimum)
        self.figure = Figure(figsize=(13.6 if surface else 8.8, 4.8), dpi=dpi, layout="constrained")
        FigureCanvasAgg(self.figure)
        self.paths, self.heads = self._plane(
            self.figure.add_subplot(1, 1 + surface, 1), x, y, heights
        )
        self.surface_paths = (
            self._surface(self.figure.add_subplot(1, 2, 2, projection="3d"), x, y, heights)
            if surface
            else []
        )
        self.figure.legend(loc="outside right upper", fontsize="small")
        # Drawn over the background each frame, so the marks come last to stay on top.
        self._moving = [
            *self.paths,
            *self.heads,
            *self.surface_paths,
            self._counter,
            *self._marks,
        ]
        for artist in self._moving:
            artist.set_animated(True)
        self.figure.canvas.draw()
        self.size: tuple[int, int] = self.figure.canvas.get_width_height()
        self._background = cast(Any, self.figure.canvas).copy_from_bbox(self.figure.bbox)

    def _grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        (x_min, x_max), (y_min, y_max) = self.function.bounds
        x = torch.linspace(x_min, x_max, RESOLUTION, dtype=torch.float64)
        y = torch.linspace(y_min, y_max, RESOLUTION, dtype=torch.float64)
        grid = torch.stack(torch.meshgrid(x, y, indexing="xy"), dim=-1)
        with torch.no_grad():
            heights = self.function(grid)
        return grid[..., 0].numpy(), grid[..., 1].numpy(), heights.numpy()

    def _plane(
        self, axes: Any, x: np.ndarray, y: np.ndarray, heights: np.ndarray
    ) -> tuple[list[Any], list[Any]]:
        """The contour plot, its marks, title and step counter; returns the paths and
        their heads, empty."""
        scale, function = self._scale, self.function
        contoured = scale.contoured(heights)
        style = {"levels": scale.levels, "norm": scale.norm}
        axes.contourf(x, y, contoured, cmap=scale.cmap, alpha=0.55, **style)
        axes.contour(x, y, contoured, colors="0.45", linewidths=0.4, **style)
        (x_min, x_max), (y_min, y_max) = function.bounds
        axes.set(xlim=(x_min, x_max), ylim=(y_min, y_max), xlabel="x", ylabel="y")
        marker = {"markersize": 12, "markeredgecolor": "black", "linestyle": ""}
        self._marks: list[Any] = []
        for points, symbol, face, label in (
            (function.minima, "*", "gold", "minimum"),
            (function.saddles, "X", "tomato", "saddle point"),
        ):
            if points:
                xs, ys = zip(*points, strict=True)
                self._marks += axes.plot(xs, ys, marker=symbol, color=face, label=label, **marker)
        start = self.trajectories[0].points[0]
        axes.plot(*start, "o", color="black", markersize=5, label="start", zorder=4)
        paths, heads = [], []
        for index, trajectory in enumerate(self.trajectories):
            color = self._colors[index % len(self._colors)]
            paths += axes.plot([], [], "-", color=color, lw=1.6, label=_label(trajectory))
            heads += axes.plot([], [], "o", color=color, markersize=5)
        noise = (
            f", gradient noise σ = {function.gradient_noise:g}" if function.gradient_noise else ""
        )
        axes.set_title(f"{function.name}: f(x, y) = {function.formula}{noise}", fontsize="small")
        self._counter = axes.text(
            0.99, 0.01, "", transform=axes.transAxes, ha="right", va="bottom", fontsize="small"
        )
        return paths, heads

    def _surface(self, axes: Any, x: np.ndarray, y: np.ndarray, heights: np.ndarray) -> list[Any]:
        """The 3-D view of the surface; returns its paths, empty."""
        surface = self._scale.height(heights)
        axes.plot_surface(
            x, y, surface, cmap=self._scale.cmap, alpha=0.6, linewidth=0, rcount=60, ccount=60
        )
        (x_min, x_max), (y_min, y_max) = self.function.bounds
        axes.set(xlim=(x_min, x_max), ylim=(y_min, y_max), zlim=(surface.min(), surface.max()))
        axes.set(xlabel="x", ylabel="y", zlabel=self._scale.zlabel)
        axes.view_init(elev=40, azim=-120)
        lines = []
        for index in range(len(self.trajectories)):
            color = self._colors[index % len(self._colors)]
            lines += axes.plot([], [], [], "-", color=color, lw=1.6, axlim_clip=True)
        return lines

    def draw(self, frame: int) -> None:
        """Set the artists to frame ``frame``: each path holds θ₀ … θ_frame."""
        check_argument(
            "frame", frame, 0 <= frame < self.frames, f"an int in [0, {self.frames - 1}]"
        )
        for index, trajectory in enumerate(self.trajectories):
            shown = trajectory.points[: frame + 1]
            self.paths[index].set_data(shown[:, 0], shown[:, 1])
            self.heads[index].set_data(shown[-1:, 0], shown[-1:, 1])
            if self.surface_paths:
                height = self._scale.height(trajectory.values[: frame + 1])
                self.surface_paths[index].set_data_3d(shown[:, 0], shown[:, 1], height)
        self._counter.set_text(f"step {frame}")

    def image(self) -> np.ndarray:
        """The current frame as an ``(height, width, 3)`` uint8 array."""
        canvas: Any = self.figure.canvas  # Agg's, which can blit
        canvas.restore_region(self._background)
        for artist in self._moving:
            artist.axes.draw_artist(artist)
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_movie(
    function: Function2D,
    trajectories: Sequence[Trajectory],
    out: str | os.PathLike[str],
    *,
    surface: bool = False,
    fps: int = 20,
    dpi: int = 100,
) -> MovieFiles:
    """Write the movie of ``trajectories`` on ``function``: ``out`` (a ``.gif``), the
    last frame beside it as ``.png``, and as ``.mp4`` when ffmpeg is on the PATH.

    One frame per step: frame k shows the iterates θ₀ … θ_k (a path that stopped earlier,
    having diverged, stays as it ended).
    """
    gif = Path(out)
    check_argument("out", str(out), gif.suffix.lower() == ".gif", "a path ending in .gif")
    check_count("fps", fps)
    ffmpeg = shutil.which("ffmpeg")
    mp4 = gif.with_suffix(".mp4") if ffmpeg else None
    movie = PathMovie(function, trajectories, surface=surface, dpi=dpi)
    with contextlib.ExitStack() as stack:
        encoder = None
        if ffmpeg and mp4:
            temporary = stack.enter_context(atomic_path(mp4))
            encoder = stack.enter_context(_ffmpeg(ffmpeg, temporary, fps, movie.size))
        _write_gif_and_still(movie, gif, fps, encoder)
    return MovieFiles(gif=gif, png=gif.with_suffix(".png"), mp4=mp4)


def _write_gif_and_still(movie: PathMovie, gif: Path, fps: int, encoder: IO[bytes] | None) -> None:
    """Render every frame into the GIF (and ``encoder``, ffmpeg's input), then the last
    frame as the PNG still. The GIF's palette is that of the first and last frames
    together, which hold every colour drawn."""
    from PIL import Image

    movie.draw(0)
    first = movie.image()
    movie.draw(movie.frames - 1)
    last = movie.image()
    final = Image.fromarray(last)
    palette = Image.fromarray(np.concatenate([first, last])).quantize(colors=256)
    images = []
    for frame in range(movie.frames):
        movie.draw(frame)
        pixels = movie.image()
        if encoder is not None:
            encoder.write(pixels.tobytes())
        images.append(Image.fromarray(pixels).quantize(palette=palette, dither=Image.Dither.NONE))
    durations = [round(1000 / fps)] * len(images)
    durations[-1] = max(durations[-1], round(1000 * FINAL_HOLD))
    with atomic_path(gif) as temporary:
        images[0].save(
            temporary,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=durations,
            loop=0,
        )
    with atomic_path(gif.with_suffix(".png")) as temporary:
        final.save(temporary, format="PNG")


@contextlib.contextmanager
def _ffmpeg(ffmpeg: str, path: Path, fps: int, size: tuple[int, int]) -> Iterator[IO[bytes]]:
    """A stream that takes raw RGB frames of ``size`` (width, height) and that ffmpeg
    encodes into the MP4 ``path``; a ``RuntimeError`` with ffmpeg's message if it fails."""
    width, height = size
    command = [
        ffmpeg,
        "-y",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-r",
        str(fps),
        "-i",
        "-",
        "-vf",
        "pad=ceil(iw/2)*2:ceil(ih/2)*2",  # H.264 wants even sides
        "-pix_fmt",
        "yuv420p",
        "-f",
        "mp4",
        str(path),
    ]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=errors)
        assert process.stdin is not None
        try:
            yield process.stdin
        except BaseException:
            process.kill()
            process.wait()
            raise
        process.stdin.close()
        if process.wait() != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            raise RuntimeError(f"ffmpeg could not encode the movie ({message})")
