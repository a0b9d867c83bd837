"""Diagnostics (issue 11): what the monitors cost in ``fit``, what each Hessian quantity
costs in gradients, and PyHessian on the same model and data, measured in the same run.

One function per part, ``section_<part>(args, setup)``; :func:`main` runs them in order
(``--only PART`` picks one). Workload: the lecture's seed network (784-32-10, sigmoid
hidden layer, softmax output, categorical cross-entropy, SGD ε = 0.01, batch 128) on
Fashion-MNIST scaled to [0, 1], 10% validation split, seed 0.

* :func:`section_monitors` — ``fit`` for ``--epochs`` epochs with each monitor at its
  default interval against the same ``fit`` without one (probe monitors measure on
  ``--monitor-probe`` training examples): median seconds of ``--repeats`` runs, rounds
  interleaved, and the overhead as the median of the within-round ratios.
* :func:`section_costs` — one call of each diagnostic on a probe batch of ``--probe``
  examples at the network after one epoch, in units of one gradient of that batch
  (forward and autograd backward): medians of ``--repeats``.
* :func:`section_pyhessian` — PyHessian (Yao et al. 2020, ``pip install pyhessian``) top
  eigenvalue (plain power iteration, its defaults: relative change < 1e-3 or 100
  iterations) and trace (Hutchinson, its defaults) against deepdescent's Lanczos and
  Hutchinson on the same model, loss and probe batch; times, values and, for the top
  eigenvalue, the residual ‖Hv − λv‖ / λ of each answer.

    python benchmarks/diagnostics.py [--repeats 5] [--epochs 2] [--threads 1] [--only PART]
        [--clock cpu|wall]

Times are the process's CPU time by default (``--clock wall`` for the wall clock): on a
shared machine with torch on one thread, other loads barely move it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from deepdescent.datasets import fashion_mnist
from deepdescent.diagnostics import (
    curvature_along_gradient,
    gradient_noise,
    hessian_eigenvalues,
    hessian_spectral_density,
    hessian_trace,
    loss_surface_2d,
    saturation,
)
from deepdescent.diagnostics._objective import resolve
from deepdescent.diagnostics.monitors import (
    CliffMonitor,
    CurvatureMonitor,
    GeneralizationMonitor,
    GradientNoiseMonitor,
    HessianMonitor,
    SaturationMonitor,
    TrajectoryRecorder,
)
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.utils import set_random_seed, to_categorical

# The clock every time is read from: the process's CPU time by default, which a shared
# machine's other loads barely disturb when torch runs on one thread; or the wall clock.
CLOCK: list[Callable[[], float]] = [time.process_time]


class Setup:
    """The data and a freshly seeded seed network."""

    def __init__(self) -> None:
        (x, labels), _ = fashion_mnist.load_data()
        self.x = x.reshape(len(x), -1).astype("float32") / 255
        self.labels = labels.astype(np.int64)
        self.y = to_categorical(labels, 10)

    def model(self) -> Sequential:
        set_random_seed(0)
        model = Sequential(
            [Dense(32, activation="sigmoid", input_shape=(784,)), Dense(10, activation="softmax")]
        )
        model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, model: Sequential, epochs: int, callbacks: list) -> float:
        set_random_seed(1)
        started = CLOCK[0]()
        model.fit(
            self.x,
            self.y,
            batch_size=128,
            epochs=epochs,
            verbose=0,
            validation_split=0.1,
            callbacks=callbacks,
        )
        return CLOCK[0]() - started


def _timed(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The median seconds of ``repeats`` calls (after one untimed call: torch's first
    double backward and ``vmap`` trace cost seconds) and the last call's result."""
    call()
    times, result = [], None
    for _ in range(repeats):
        started = CLOCK[0]()
        result = call()
        times.append(CLOCK[0]() - started)
    return statistics.median(times), result


# -- monitors in fit ------------------------------------------------------------------------


def _monitors(setup: Setup, probe: int) -> dict[str, Callable[[], Any]]:
    x, y = setup.x[:probe], setup.y[:probe]
    return {
        "CliffMonitor (every step; ratios every 50)": CliffMonitor,
        f"GradientNoiseMonitor (each epoch, {probe} examples)": lambda: GradientNoiseMonitor(x, y),
        f"CurvatureMonitor (every 50 steps, {probe} examples)": lambda: CurvatureMonitor(x, y),
        f"HessianMonitor (each epoch, top + smallest, {probe} examples)": lambda: HessianMonitor(
            x, y
        ),
        f"SaturationMonitor (each epoch, {probe} examples)": lambda: SaturationMonitor(x),
        "TrajectoryRecorder (each epoch)": TrajectoryRecorder,
        "GeneralizationMonitor (each epoch, 5000 + 6000 examples)": lambda: GeneralizationMonitor(
            (setup.x[:5000], setup.y[:5000]), (setup.x[54000:], setup.y[54000:])
        ),
    }


def section_monitors(args: argparse.Namespace, setup: Setup) -> None:
    variants = {"no monitor": None, **_monitors(setup, args.monitor_probe)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for make in variants.values():  # an untimed epoch each: first kernels and vmap traces
        setup.fit(setup.model(), 1, [] if make is None else [make()])
    for _ in range(args.repeats):
        for name, make in variants.items():
            times[name].append(
                setup.fit(setup.model(), args.epochs, [] if make is None else [make()])
            )
    base = times["no monitor"]
    print(f"\n## Monitors in fit ({args.epochs} epochs, median of {args.repeats})\n")
    print("Overhead: the median over rounds of (fit with the monitor / fit without it in the")
    print("same round) − 1, robust to the load of a shared machine drifting between rounds.\n")
    print("| monitor | median fit s | overhead | runs (s) |")
    print("| --- | ---: | ---: | --- |")
    for name, values in times.items():
        ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {statistics.median(values):.2f} | {100 * (ratio - 1):+.1f}% | {runs} |")


# -- one call in gradients ------------------------------------------------------------------


def _trained(setup: Setup) -> Sequential:
    model = setup.model()
    setup.fit(model, 1, [])
    return model


def section_costs(args: argparse.Namespace, setup: Setup) -> None:
    model = _trained(setup)
    x, y = setup.x[: args.probe], setup.y[: args.probe]
    objective = resolve(model, None, x, y)
    gradient, _ = _timed(objective.gradient, args.repeats)

    def one_product() -> None:
        with objective.hessian() as (_, g, product):
            product(g)

    calls: dict[str, Callable[[], Any]] = {
        "gradient (forward + backward)": objective.gradient,
        "gradient graph + 1 Hessian-vector product": one_product,
        "curvature_along_gradient (gᵀg, gᵀHg)": lambda: curvature_along_gradient(model, None, x, y),
        "top eigenvalue, Lanczos, tol 1e-3": lambda: hessian_eigenvalues(
            model, None, x, y, tol=1e-3
        ),
        "top eigenvalue, Lanczos, tol 1e-5": lambda: hessian_eigenvalues(
            model, None, x, y, tol=1e-5
        ),
        "top eigenvalue, power iteration, tol 1e-3": lambda: hessian_eigenvalues(
            model, None, x, y, method="power", tol=1e-3
        ),
        "smallest eigenvalue, Lanczos, tol 1e-3": lambda: hessian_eigenvalues(
            model, None, x, y, which="smallest", tol=1e-3
        ),
        "trace, Hutchinson, 100 probes": lambda: hessian_trace(model, None, x, y, num_probes=100),
        "density, SLQ, 4 vectors x 64 steps": lambda: hessian_spectral_density(model, None, x, y),
        f"gradient_noise (per-example, {min(args.probe, 512)} examples)": lambda: gradient_noise(
            model, None, x[:512], y[:512], draws=0
        ),
        "saturation": lambda: saturation(model, x),
        "loss_surface_2d, 21 x 21": lambda: loss_surface_2d(model, None, x, y),
    }
    print(f"\n## One call on {args.probe} examples, in gradients of that batch\n")
    print(f"One gradient: {1e3 * gradient:.2f} ms.\n")
    print("| diagnostic | median ms | gradients | products |")
    print("| --- | ---: | ---: | ---: |")
    for name, call in calls.items():
        seconds, result = _timed(call, args.repeats)
        products = getattr(result, "products", "")
        print(f"| {name} | {1e3 * seconds:.1f} | {seconds / gradient:.1f} | {products} |")


# -- PyHessian ------------------------------------------------------------------------------


class _Logits(torch.nn.Module):
    """The network's pre-softmax outputs, for torch's cross-entropy (PyHessian's criterion)."""

    def __init__(self, model: Sequential) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_pre_activation(x)


def _relative_residual(
    model: Sequential, x: Any, y: Any, value: float, vector: torch.Tensor
) -> float:
    objective = resolve(model, None, x, y)
    with objective.hessian() as (_, _, product):
        return float((product(vector) - value * vector).norm() / abs(value))


def section_pyhessian(args: argparse.Namespace, setup: Setup) -> None:
    try:
        from pyhessian import hessian as pyhessian_hessian
    except ImportError:
        print("\n## PyHessian: not installed (pip install pyhessian); section skipped")
        return
    model = _trained(setup)
    x, y = setup.x[: args.probe], setup.y[: args.probe]
    inputs, labels = torch.from_numpy(x), torch.from_numpy(setup.labels[: args.probe])
    logits, criterion = _Logits(model), torch.nn.CrossEntropyLoss()
    same = float(criterion(logits(inputs), labels).detach()) - resolve(model, None, x, y).value()
    assert abs(same) < 1e-5, "PyHessian's criterion must be the same cost"

    def pyhessian(tol: float = 1e-3, iterations: int = 100) -> Any:
        torch.manual_seed(0)
        return pyhessian_hessian(logits, criterion, data=(inputs, labels), cuda=False)

    def pyhessian_top(tol: float, iterations: int) -> tuple[float, torch.Tensor]:
        values, vectors = pyhessian().eigenvalues(maxIter=iterations, tol=tol)
        return values[0], torch.cat([v.reshape(-1) for v in vectors[0]])

    rows = []
    for tol, iterations in ((1e-3, 100), (1e-6, 5000)):
        seconds, (value, vector) = _timed(
            lambda t=tol, i=iterations: pyhessian_top(t, i), args.repeats
        )
        residual = _relative_residual(model, x, y, value, vector)
        name = f"PyHessian top eigenvalue (power, rel. change {tol:g}, max {iterations})"
        rows.append((name, seconds, value, residual))
    for tol, method in ((1e-3, "lanczos"), (1e-5, "lanczos"), (1e-3, "power")):
        seconds, pairs = _timed(
            lambda t=tol, m=method: hessian_eigenvalues(model, None, x, y, tol=t, method=m),
            args.repeats,
        )
        value = float(pairs.values[0])
        name = f"deepdescent top eigenvalue ({method}, residual tol {tol:g})"
        rows.append((name, seconds, value, float(pairs.residuals[0]) / abs(value)))
    seconds, samples = _timed(lambda: pyhessian().trace(), args.repeats)
    probes = len(samples)
    ours_seconds, ours = _timed(
        lambda: hessian_trace(model, None, x, y, num_probes=probes), args.repeats
    )
    print(f"\n## PyHessian on the same model and {args.probe} examples\n")
    print("| method | median s | value | ‖Hv − λv‖ / λ |")
    print("| --- | ---: | ---: | ---: |")
    for name, time_s, result, residual in rows:
        print(f"| {name} | {time_s:.3f} | {result:.5f} | {residual:.1e} |")
    theirs = f"{np.mean(samples):.3f}"
    print(
        f"| PyHessian trace (Hutchinson, stops at {probes} probes) | {seconds:.3f} | {theirs} | |"
    )
    mine = f"{ours.value:.3f} ± {ours.standard_error:.3f}"
    print(f"| deepdescent trace (Hutchinson, {probes} probes) | {ours_seconds:.3f} | {mine} | |")
    print(
        f"\nTrace time PyHessian / deepdescent: {seconds / ours_seconds:.2f}x; top eigenvalue "
        f"time PyHessian (1e-3) / Lanczos (1e-3): {rows[0][1] / rows[2][1]:.2f}x, PyHessian "
        f"(1e-6) / Lanczos (1e-5): {rows[1][1] / rows[3][1]:.2f}x"
    )


SECTIONS = {"monitors": section_monitors, "costs": section_costs, "pyhessian": section_pyhessian}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--probe", type=int, default=1000)
    parser.add_argument("--monitor-probe", type=int, default=256)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    parser.add_argument("--only", choices=sorted(SECTIONS), default=None)
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), default="cpu", help="process CPU time or wall time"
    )
    args = parser.parse_args()
    CLOCK[0] = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.clock} time")
    setup = Setup()
    for name, section in SECTIONS.items():
        if args.only in (None, name):
            section(args, setup)


if __name__ == "__main__":
    main()
