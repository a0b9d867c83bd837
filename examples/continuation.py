"""Continuation finds the global minimum where gradient descent stops in a local one
(Goodfellow et al. §8.7.6).

Rastrigin's function f(x, y) = 20 + Σ (xᵢ² − 10 cos 2πxᵢ) is a bowl covered in local
minima near the integer points; its global minimum is f(0, 0) = 0. Blurred by a Gaussian
of width σ it becomes

    J_σ(θ) = E_{θ′∼N(θ, σ²I)} f(θ′) = 20 + Σ (θᵢ² + σ² − 10 e^{−2π²σ²} cos 2πθᵢ),

whose ripples shrink by e^{−2π²σ²}: at σ = 0.6 it is convex. From the default start of
the movies, (−3.2, 2.3), plain gradient descent (ε = 0.004) and ``Continuation`` around
the same gradient descent (σ = 0.6 for 400 steps, estimated with 8 antithetic draws per
step, then σ = 0: f itself) run 500 steps each. The figure draws the blurred objectives
along one axis and both paths on f's contours.

What it shows: gradient descent stops at the local minimum (−2.98, 1.99), f = 12.9;
continuation reaches (0, 0), f < 10⁻⁹.

The same race as a movie: ``deepdescent movie --function rastrigin --optimizers
sgd,continuation --steps 500 --optimizer-args '{"sgd": {"lr": 0.004}, "continuation":
{"lr": 0.004, "sigmas": [0.6, 0.0], "steps_per_stage": 400, "samples": 8}}'``.

Run: ``python examples/continuation.py [--out FILE]``.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from deepdescent.problems import Trajectory, get_function, record_trajectories

SETTINGS = {
    "sgd": {"lr": 0.004},
    "continuation": {"lr": 0.004, "sigmas": [0.6, 0.0], "steps_per_stage": 400, "samples": 8},
}


def blurred(x: np.ndarray, sigma: float) -> np.ndarray:
    """One coordinate's share of J_σ: x² + σ² + 10 − 10 e^{−2π²σ²} cos 2πx."""
    ripple = 10 * math.exp(-2 * math.pi**2 * sigma**2)
    return x**2 + sigma**2 + 10 - ripple * np.cos(2 * math.pi * x)


def run(steps: int = 500, stage: int = 400) -> dict[str, Trajectory]:
    """optimizer name → its path on Rastrigin's function from the default start."""
    settings = {name: dict(s) for name, s in SETTINGS.items()}
    settings["continuation"]["steps_per_stage"] = stage
    paths = record_trajectories(get_function("rastrigin"), list(settings), steps, settings=settings)
    return {path.optimizer: path for path in paths}


def plot(paths: dict[str, Trajectory], path: str) -> None:
    from matplotlib.figure import Figure

    function = get_function("rastrigin")
    figure = Figure(figsize=(12, 5), layout="constrained")
    profile, plane = figure.subplots(1, 2)
    x = np.linspace(-4, 4, 801)
    for sigma in (0.0, 0.2, 0.3, 0.6):
        profile.plot(x, blurred(x, sigma), label=f"σ = {sigma:g}")
    profile.set(xlabel="x", ylabel="J_σ along one axis", title="Rastrigin blurred by N(0, σ²)")
    profile.legend()
    grid = np.linspace(-4, 4, 301)
    gx, gy = np.meshgrid(grid, grid)
    values = 20 + gx**2 - 10 * np.cos(2 * np.pi * gx) + gy**2 - 10 * np.cos(2 * np.pi * gy)
    plane.contour(gx, gy, values, levels=30, linewidths=0.5, cmap="viridis")
    for name, trajectory in paths.items():
        plane.plot(*trajectory.points.T, marker=".", markersize=2, label=name)
    plane.plot(*function.minima[0], "k*", markersize=12)
    plane.set(title="paths on f", aspect="equal")
    plane.legend()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="continuation.png")
    args = parser.parse_args(argv)
    paths = run()
    for name, trajectory in paths.items():
        x, y = trajectory.points[-1]
        sys.stdout.write(f"{name:13} ends at ({x:.3f}, {y:.3f}), f = {trajectory.values[-1]:.3g}\n")
    plot(paths, args.out)
    sys.stdout.write(f"wrote {args.out}\n")


if __name__ == "__main__":
    main()
