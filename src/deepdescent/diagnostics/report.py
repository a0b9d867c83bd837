"""``deepdescent diagnose``: the standard diagnostics of a run, as a folder of PNG figures
and one JSON of the numbers.

The run is a folder written by ``deepdescent train`` (its ``metrics.json`` holds the
recipe, ``model.deepdescent`` the solution), or, with no folder, ``train``'s default
recipe. The recipe is *replayed*: the same seed gives the same initialization, data order
and steps, now with monitors attached (per-step gradient norms, curvature along the
gradient, the Hessian's extreme eigenvalues per epoch, gradient noise, saturation, the
parameters per epoch); a run folder's saved model is compared with the replay's end. Then,
at the solution, on a probe batch of training examples: the Hessian summary (top
eigenvalues, smallest, trace, density, condition number, negative directions), curvature
along the gradient, gradient noise, saturation, learning versus optimization, the line
from initialization to solution, and loss surfaces around it (filter-normalized, and on
the training path's principal directions).

The JSON is strict: a number that is not finite is written ``null``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepdescent.diagnostics._objective import parameter_vector, resolve
from deepdescent.diagnostics.curvature import curvature_along_gradient
from deepdescent.diagnostics.landscape import (
    LossLine,
    linear_interpolation,
    loss_surface_2d,
    trajectory_directions,
)
from deepdescent.diagnostics.learning import generalization, learning_summary
from deepdescent.diagnostics.monitors import (
    CliffMonitor,
    CurvatureMonitor,
    GradientNoiseMonitor,
    HessianMonitor,
    SaturationMonitor,
    TrajectoryRecorder,
)
from deepdescent.diagnostics.noise import gradient_noise
from deepdescent.diagnostics.saturation import saturation
from deepdescent.diagnostics.spectrum import HessianEigenpairs, hessian_summary
from deepdescent.recipe import DEFAULTS, build_model, load_dataset, make_optimizer, resolve_device
from deepdescent.utils._checks import check_argument, check_count, is_integer
from deepdescent.utils.io import atomic_write_bytes

__all__ = ["add_arguments", "command", "diagnose"]

RUN_FILES = ("metrics.json", "model.deepdescent")
LOSS = "categorical_crossentropy"
MONITOR_PROBE = 256  # examples the monitors measure on during the replay
NOISE_PROBE = 512  # examples whose per-example gradients are kept at once


# -- the recipe ---------------------------------------------------------------------------


def _run_config(run: Path | None) -> dict[str, Any]:
    """The recipe: a run folder's ``metrics.json`` config, or ``train``'s defaults."""
    if run is None:
        return copy.deepcopy(DEFAULTS)
    missing = [name for name in RUN_FILES if not (run / name).is_file()]
    if not run.is_dir() or missing:
        what = "not a folder" if not run.is_dir() else f"missing {', '.join(missing)}"
        raise ValueError(
            f"Invalid run: {str(run)!r} (expected a run folder written by `deepdescent train`: "
            f"{what})"
        )
    metrics = json.loads((run / "metrics.json").read_text())
    config = metrics.get("config") if isinstance(metrics, dict) else None
    if not isinstance(config, dict):
        raise ValueError(f"Invalid run: {str(run)!r} (expected metrics.json with the run's config)")
    return config


class _Replay:
    """The recipe's model at initialization and, once trained, its monitors and history."""

    def __init__(self, config: dict[str, Any], data_dir: str | None, device: torch.device) -> None:
        from deepdescent.training.data import split_validation
        from deepdescent.utils import set_random_seed

        # The order of deepdescent train: optimizer, seed, data, model.
        self.optimizer = make_optimizer(config["optimizer"], config["lr"], config["optimizer_args"])
        set_random_seed(config["seed"])
        (x, y), _ = load_dataset(
            config["dataset"],
            data_dir or config.get("data_dir"),
            config["raw_pixels"],
            config["limit"],
        )
        self.x, self.y = x, y
        (x_train, y_train), held_out = split_validation((x, y), config["validation_split"])
        self.train = (x_train, y_train)
        self.validation = None if held_out is None else (held_out[0], held_out[1])
        self.model = build_model(
            x.shape[1], config["hidden"], config["activation"], f"{config['dataset']}_mlp"
        ).to(device)
        self.initial = parameter_vector(self.model)
        self.config = config
        self.history: dict[str, list[float]] = {}
        self.monitors: dict[str, Any] = {}

    def fit(self, verbose: int) -> None:
        config = self.config
        steps_per_epoch = math.ceil(len(self.train[0]) / config["batch_size"])
        xm, ym = self.train[0][:MONITOR_PROBE], self.train[1][:MONITOR_PROBE]
        self.monitors = {
            "cliffs": CliffMonitor(update_interval=10),
            "curvature": CurvatureMonitor(xm, ym, interval=max(1, steps_per_epoch // 10)),
            "hessian": HessianMonitor(xm, ym, tol=1e-3),
            "noise": GradientNoiseMonitor(xm, ym),
            "saturation": SaturationMonitor(xm),
            "trajectory": TrajectoryRecorder(),
        }
        self.model.compile(
            optimizer=self.optimizer, loss=LOSS, metrics=["accuracy", "zero_one_loss"]
        )
        history = self.model.fit(
            self.x,
            self.y,
            batch_size=config["batch_size"],
            epochs=config["epochs"],
            verbose=verbose,
            validation_split=config["validation_split"],
            callbacks=list(self.monitors.values()),
        )
        self.history = history.history
        self.steps_per_epoch = steps_per_epoch


# -- numbers ------------------------------------------------------------------------------


def strict(value: Any) -> Any:
    """``value`` with arrays and tensors as lists and non-finite floats as ``None``."""
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if isinstance(value, torch.Tensor):
        return strict(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return strict(value.tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return strict(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _pairs(pairs: HessianEigenpairs) -> dict[str, Any]:
    return {
        "values": pairs.values,
        "residuals": pairs.residuals,
        "method": pairs.method,
        "products": pairs.products,
        "converged": pairs.converged,
    }


def _line(line: LossLine) -> dict[str, Any]:
    return {"alphas": line.alphas, "losses": line.losses}


# -- the report ---------------------------------------------------------------------------


def diagnose(
    run: str | Path | None = None,
    output: str | Path | None = None,
    *,
    probe_size: int = 1000,
    seed: int = 0,
    replay: bool = True,
    data_dir: str | None = None,
    device: str = "auto",
    resolution: int = 21,
    verbose: int = 0,
) -> dict[str, Any]:
    """Run the standard set (see the module) and write the report folder ``output``
    (default: ``RUN/diagnostics``, or ``runs/diagnose-TIMESTAMP`` for the default recipe).

    Returns the report (what ``report.json`` holds), with the report folder under
    ``"output"`` and the figures written under ``"figures"``.
    """
    probe_size = check_count("probe_size", probe_size, minimum=2)
    resolution = check_count("resolution", resolution, minimum=2)
    check_argument("seed", seed, is_integer(seed) and seed >= 0, "an int >= 0")
    folder = None if run is None else Path(run)
    check_argument(
        "replay",
        replay,
        replay or folder is not None,
        "True without a run folder (the default recipe must be trained)",
    )
    config = _run_config(folder)
    out = (
        Path(output)
        if output is not None
        else (
            folder / "diagnostics"
            if folder is not None
            else Path(f"runs/diagnose-{time.strftime('%Y%m%d-%H%M%S')}")
        )
    )
    recipe = _Replay(config, data_dir, resolve_device(device))
    report: dict[str, Any] = {
        "source": str(folder) if folder else "default recipe",
        "config": config,
    }
    if replay:
        recipe.fit(verbose)
    solution, history = recipe.model, recipe.history
    if folder is not None:
        from deepdescent.models import load_model

        solution = load_model(folder / "model.deepdescent").to(recipe.model.device)
        if (folder / "history.json").is_file():
            history = json.loads((folder / "history.json").read_text())
        if replay:
            difference = (parameter_vector(solution) - parameter_vector(recipe.model)).abs().max()
            report["replay"] = {"max_abs_difference_from_saved_model": float(difference)}
    numbers, drawings = _at_solution(recipe, solution, history, probe_size, seed, resolution)
    report |= numbers
    report["figures"] = _figures(numbers, drawings, out)
    text = json.dumps(strict(report), indent=2, allow_nan=False)
    atomic_write_bytes(out / "report.json", (text + "\n").encode())
    return report | {"output": str(out)}


def _probe(x: Any, y: Any, size: int, seed: int) -> tuple[Any, Any]:
    """``size`` examples drawn without replacement (in their original order)."""
    chosen = np.sort(np.random.default_rng(seed).permutation(len(x))[: min(size, len(x))])
    return x[chosen], y[chosen]


def _at_solution(
    recipe: _Replay,
    solution: Any,
    history: dict[str, list[float]],
    probe_size: int,
    seed: int,
    resolution: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The numbers at the solution (JSON-ready but for arrays) and what the figures need."""
    xp, yp = _probe(*recipe.train, probe_size, seed)
    theta = parameter_vector(solution)
    summary = hessian_summary(solution, None, xp, yp, k=5, num_probes=50, tol=1e-4, seed=seed)
    curvature = curvature_along_gradient(solution, None, xp, yp)
    # |G|² from the whole training set's gradient, tr Σ from the probe's per-example ones.
    _, full_gradient = resolve(solution, None, *recipe.train).gradient()
    noise = gradient_noise(
        solution, None, xp[:NOISE_PROBE], yp[:NOISE_PROBE], seed=seed, true_gradient=full_gradient
    )
    lines = {"training probe": linear_interpolation(solution, recipe.initial, theta, None, xp, yp)}
    numbers: dict[str, Any] = {}
    if recipe.validation is not None:
        xv, yv = _probe(*recipe.validation, probe_size, seed)
        lines["validation probe"] = linear_interpolation(
            solution, recipe.initial, theta, None, xv, yv
        )
        result = generalization(solution, None, (xp, yp), recipe.validation)
        numbers["generalization"] = vars(result) | {
            "loss_gap": result.loss_gap,
            "zero_one_gap": result.zero_one_gap,
        }
    surface = loss_surface_2d(solution, None, xp, yp, resolution=resolution, seed=seed)
    numbers |= {
        "parameters": summary.size,
        "probe_examples": len(xp),
        "hessian": {
            "method": summary.method,
            "top": _pairs(summary.top),
            "smallest": _pairs(summary.bottom),
            "trace": {
                "value": summary.trace.value,
                "standard_error": summary.trace.standard_error,
                "probes": summary.trace.num_probes,
                "method": summary.trace.method,
            },
            "condition_number": summary.condition_number,
            "negative_threshold": summary.negative_threshold,
            "negative_count": summary.negative_count,
            "negative_fraction": summary.negative_fraction,
        },
        "curvature_along_gradient": vars(curvature),
        "gradient_noise": vars(noise),
        "saturation": [vars(layer) for layer in saturation(solution, xp)],
        "learning": learning_summary(history),
        "interpolation": {label: _line(line) for label, line in lines.items()},
        "surface": {"alphas": surface.alphas, "betas": surface.betas, "losses": surface.losses},
    }
    landscape: dict[str, Any] = {"lines": lines, "surface": surface}
    trajectory = recipe.monitors.get("trajectory")
    if trajectory is not None and len(trajectory.snapshots) >= 3:
        projection = trajectory_directions(trajectory.trajectory.to(theta), center=theta)
        low, high = projection.coordinates.min(axis=0), projection.coordinates.max(axis=0)
        margin = 0.2 * np.maximum(high - low, 1e-3)
        extent = (low[0] - margin[0], high[0] + margin[0], low[1] - margin[1], high[1] + margin[1])
        path_surface = loss_surface_2d(
            solution,
            None,
            xp,
            yp,
            directions=projection.directions,
            center=theta,
            extent=extent,
            resolution=resolution,
        )
        landscape |= {"path_surface": path_surface, "projection": projection}
        numbers["trajectory"] = {
            "coordinates": projection.coordinates,
            "explained_variance_ratio": projection.explained_variance_ratio,
            "losses": path_surface.losses,
            "extent": extent,
        }
    if recipe.monitors:
        numbers["training"] = _during_training(recipe)
    return numbers, {"summary": summary, "noise": noise} | landscape


def _during_training(recipe: _Replay) -> dict[str, Any]:
    cliffs = recipe.monitors["cliffs"]
    return {
        "steps_per_epoch": recipe.steps_per_epoch,
        "gradient_norms": cliffs.gradient_norms,
        "spikes": cliffs.spikes,
        "update_steps": cliffs.update_steps,
        "update_ratios": cliffs.update_ratios,
        **{
            name: recipe.monitors[name].history
            for name in ("curvature", "hessian", "noise", "saturation")
        },
    }


def _figures(numbers: dict[str, Any], drawings: dict[str, Any], out: Path) -> list[str]:
    """Draw every figure the numbers allow into ``out``; their file names."""
    from deepdescent import viz

    names = []

    def draw(name: str, plot: Any, *args: Any, **kwargs: Any) -> None:
        plot(*args, out / name, **kwargs)
        names.append(name)

    summary, learning = drawings["summary"], numbers["learning"]
    training = numbers.get("training")
    draw(
        "hessian_spectrum.png",
        viz.plot_spectral_density,
        summary.density,
        top=summary.top.values.tolist(),
        over_training=None if training is None else training["hessian"],
        title="Hessian eigenvalues at the solution",
    )
    draw(
        "gradient_noise.png",
        viz.plot_gradient_noise,
        drawings["noise"],
        title="Minibatch gradient noise (§8.1.3)",
    )
    draw(
        "learning.png",
        viz.plot_learning,
        learning,
        title="Learning versus pure optimization (§8.1)",
    )
    draw(
        "interpolation.png",
        viz.plot_interpolation,
        drawings["lines"],
        title="From initialization to solution",
    )
    draw(
        "surface.png",
        viz.plot_surface,
        drawings["surface"],
        title="Filter-normalized slice at the solution",
    )
    if "path_surface" in drawings:
        draw(
            "trajectory.png",
            viz.plot_surface,
            drawings["path_surface"],
            trajectory=drawings["projection"].coordinates,
            title="The training path on its principal directions",
        )
    if training is not None:
        errors = {
            label: learning[key]
            for label, key in (("training", "zero_one_loss"), ("validation", "val_zero_one_loss"))
            if learning[key] is not None
        }
        draw(
            "figure_8_1.png",
            viz.plot_gradient_norm_and_error,
            training["gradient_norms"],
            training["steps_per_epoch"],
            errors,
            title="Gradient norm and classification error (Goodfellow et al., Figure 8.1)",
        )
        draw(
            "cliffs.png",
            viz.plot_cliffs,
            training["gradient_norms"],
            training["spikes"],
            training["update_steps"],
            training["update_ratios"],
            title="Gradient norms and update-to-weight ratios (§8.2.4)",
        )
        draw(
            "curvature.png",
            viz.plot_curvature,
            training["curvature"],
            title="Curvature along the gradient (§8.2.1)",
        )
        draw(
            "saturation.png",
            viz.plot_saturation,
            training["saturation"],
            title="Saturated and dead units",
        )
    return names


# -- the command --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``deepdescent diagnose`` options."""
    parser.add_argument(
        "run",
        nargs="?",
        default=None,
        help="a run folder written by `deepdescent train` (default: the default recipe)",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="report folder (default: RUN/diagnostics, or runs/diagnose-TIMESTAMP)",
    )
    parser.add_argument(
        "--probe-size",
        type=int,
        default=1000,
        help="training examples the diagnostics measure on (default: 1000)",
    )
    parser.add_argument(
        "--resolution",
        type=int,
        default=21,
        help="grid points per axis of the loss surfaces (default: 21)",
    )
    parser.add_argument(
        "--no-replay",
        action="store_true",
        help="analyze the saved model only, without re-training the run with monitors",
    )
    parser.add_argument("--data-dir", default=None, help="folder holding the IDX files")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... or auto")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the diagnostics' random probes"
    )
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)


def command(args: argparse.Namespace) -> dict[str, Any]:
    """``deepdescent diagnose``: run :func:`diagnose` and say where the report is."""
    try:
        report = diagnose(
            args.run,
            args.output,
            probe_size=args.probe_size,
            seed=args.seed,
            replay=not args.no_replay,
            data_dir=args.data_dir,
            device=args.device,
            resolution=args.resolution,
            verbose=args.verbose,
        )
    except ValueError as error:
        raise SystemExit(f"deepdescent diagnose: {error}") from None
    hessian, noise = report["hessian"], report["gradient_noise"]
    sys.stdout.write(
        f"Hessian: top eigenvalue {float(hessian['top']['values'][0]):.4g}, smallest "
        f"{float(hessian['smallest']['values'][0]):.4g}, trace {hessian['trace']['value']:.4g}, "
        f"~{hessian['negative_count']:.0f} negative directions of {report['parameters']}\n"
        f"gradient noise scale B_simple: {noise['noise_scale']:.4g}\n"
        f"report folder: {report['output']} ({len(report['figures'])} figures, report.json)\n"
    )
    return report
