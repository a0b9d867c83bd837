"""``deepdescent movie``: optimizers' paths on a 2-D test function, as a GIF (and an MP4
when ffmpeg is on the PATH) with a PNG still of the last frame.

    deepdescent movie --function rosenbrock --optimizers sgd,momentum,adam --steps 200 \\
        --out rosenbrock.gif --optimizer-args '{"adam": {"lr": 0.1}}'
"""

from __future__ import annotations

import argparse
import sys

from deepdescent.utils._argparse import names, optimizer_settings, positive_int

__all__ = ["add_movie_arguments", "run_movie"]


def _point(text: str) -> tuple[float, float]:
    try:
        x, y = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a point x,y, got {text!r}") from None
    return x, y


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def add_movie_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``deepdescent movie``."""
    parser.add_argument("--function", default="rosenbrock", help="test function (rosenbrock)")
    parser.add_argument(
        "--optimizers",
        type=names,
        default=["sgd", "momentum", "adam"],
        help="comma-separated optimizer names (sgd,momentum,adam)",
    )
    parser.add_argument("--steps", type=positive_int, default=200)
    parser.add_argument(
        "--out", default=None, help="the GIF to write (FUNCTION.gif); .png and .mp4 beside it"
    )
    parser.add_argument(
        "--optimizer-args",
        type=optimizer_settings,
        default={},
        metavar="JSON",
        help='hyperparameters per optimizer, e.g. \'{"adam": {"lr": 0.1}}\'',
    )
    parser.add_argument(
        "--start", type=_point, default=None, help="start point x,y (write --start=-1.5,2)"
    )
    parser.add_argument(
        "--noise", type=_non_negative_float, default=0.0, help="σ of Gaussian gradient noise"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the gradient noise")
    parser.add_argument("--surface", action="store_true", help="add a 3-D view of the surface")
    parser.add_argument("--fps", type=positive_int, default=20, help="frames per second")
    parser.add_argument("--dpi", type=positive_int, default=100, help="pixels per inch")


def run_movie(args: argparse.Namespace) -> None:
    """Record the paths, write the movie, and print where it went and how each optimizer
    ended. Bad names, start points or hyperparameters end the command with a message."""
    from deepdescent.problems import get_function, noisy, record_trajectories
    from deepdescent.viz.movie import save_movie

    try:
        function = get_function(args.function)
        if args.noise:
            function = noisy(function, args.noise, args.seed)
        trajectories = record_trajectories(
            function,
            args.optimizers,
            args.steps,
            start=args.start,
            settings=args.optimizer_args,
        )
        files = save_movie(
            function,
            trajectories,
            args.out or f"{function.name}.gif",
            surface=args.surface,
            fps=args.fps,
            dpi=args.dpi,
        )
    except ValueError as error:
        raise SystemExit(f"deepdescent movie: {error}") from None
    for trajectory in trajectories:
        x, y = trajectory.points[-1]
        ending = f"diverged at step {trajectory.diverged_at}" if trajectory.diverged_at else ""
        sys.stdout.write(
            f"{trajectory.optimizer:>20}: f({x:.4g}, {y:.4g}) = {trajectory.values[-1]:.4g} "
            f"{ending}\n"
        )
    written = [files.gif, files.png, *([files.mp4] if files.mp4 else [])]
    sys.stdout.write("wrote " + ", ".join(map(str, written)) + "\n")
