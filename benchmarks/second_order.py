"""Second-order methods (issue 4) against their peers, measured in the same run.

One function per part, named ``section_<part>(args)``, with its command-line options
added by ``options_<part>(parser)``; :func:`main` collects every such pair defined in this
file and runs the sections in order (``--only PART`` picks one), so a part is added by
defining its two functions and nothing else. Each section prints its own table.

* :func:`section_lbfgs` — L-BFGS on L2-regularized logistic regression: closure
  evaluations and wall time to reach ``max |∇f| <= --tolerance``, deepdescent's
  ``LBFGS`` vs ``torch.optim.LBFGS`` (strong Wolfe) vs SciPy's ``L-BFGS-B``, same memory
  m, same objective (one torch function of the weights for all three, so an evaluation
  costs the same), each started from zero.

* :func:`section_autoencoder` — K-FAC and Hessian-free against Adam and SGD with momentum
  (learning rates tuned) on the deep autoencoder (Hinton & Salakhutdinov), from the same
  initial weights, epochs interleaved across methods: test error against wall time (a
  table, and a plot with ``--ae-plot``), each method's cost per step and per epoch in
  gradients.
* :func:`section_hvp` — the cost of a Hessian-vector product in gradients.

    python benchmarks/second_order.py [--repeats 5] [--device cpu|cuda] [--only PART]
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

# torch imports this (and sympy: half a second of CPU) at the process's first
# torch.autograd.grad with given grad_outputs, which would charge it to the first method
# that calls one (K-FAC): imported here, it is charged to none.
import torch.fx.experimental.symbolic_shapes
import torch.nn.functional as F
from scipy.optimize import minimize

from deepdescent.callbacks import Callback
from deepdescent.optimizers.second_order.lbfgs import LBFGS

# -- L-BFGS ----------------------------------------------------------------------------------


def logistic_regression(
    samples: int, features: int, lam: float, device: str, seed: int = 0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """f(θ) = mean log(1 + exp(−t(Xw + b))) + ½λ‖w‖², θ = (w, b), t ∈ {−1, +1}, with
    feature scales from 1 to 10 (condition number in the thousands)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, features, generator=generator, dtype=torch.float64)
    x *= torch.logspace(0, 1, features, dtype=torch.float64)
    noise = 2.0 * torch.randn(samples, generator=generator, dtype=torch.float64)
    w_true = torch.randn(features, generator=generator, dtype=torch.float64)
    t = torch.where(x @ w_true + noise > 0, 1.0, -1.0).to(torch.float64)
    x, t = x.to(device), t.to(device)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        w, b = theta[:-1], theta[-1]
        return F.softplus(-t * (x @ w + b)).mean() + 0.5 * lam * w.dot(w)

    return loss


def run_torch_style(
    make: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    loss: Callable[[torch.Tensor], torch.Tensor],
    size: int,
    device: str,
) -> tuple[int, float, torch.Tensor]:
    """One ``step`` of an optimizer configured to run to the tolerance; returns the
    closure calls, the seconds and the final θ."""
    theta = torch.zeros(size, dtype=torch.float64, device=device, requires_grad=True)
    optimizer = make([theta])
    calls = 0

    def closure() -> torch.Tensor:
        nonlocal calls
        calls += 1
        optimizer.zero_grad()
        value = loss(theta)
        value.backward()
        return value

    synchronize(device)
    start = time.perf_counter()
    optimizer.step(closure)
    synchronize(device)
    return calls, time.perf_counter() - start, theta.detach()


def run_scipy(
    loss: Callable[[torch.Tensor], torch.Tensor], size: int, device: str, m: int, tol: float
) -> tuple[int, float, torch.Tensor]:
    """L-BFGS-B without bounds on the same torch objective (NumPy ↔ torch per call)."""

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        point = torch.from_numpy(theta).to(device).requires_grad_()
        value = loss(point)
        value.backward()
        assert point.grad is not None
        return value.item(), point.grad.cpu().numpy()

    start = time.perf_counter()
    result = minimize(
        fun,
        np.zeros(size),
        jac=True,
        method="L-BFGS-B",
        options={"maxcor": m, "gtol": tol, "ftol": 0.0, "maxiter": 100_000, "maxfun": 100_000},
    )
    return int(result.nfev), time.perf_counter() - start, torch.from_numpy(result.x).to(device)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def section_lbfgs(args: argparse.Namespace) -> None:
    """Evaluations and wall time to max |∇f| <= tol: ours vs torch.optim vs SciPy."""
    m, tol, device = args.history, args.tolerance, args.device
    loss = logistic_regression(args.samples, args.features, args.lam, device)
    size = args.features + 1
    budget = {"max_iter": 100_000, "max_eval": 100_000, "history_size": m}
    methods: dict[str, Callable[[], tuple[int, float, torch.Tensor]]] = {
        "deepdescent LBFGS": lambda: run_torch_style(
            lambda p: LBFGS(p, tolerance_grad=tol, tolerance_change=0.0, **budget),
            loss,
            size,
            device,
        ),
        "torch.optim.LBFGS (strong_wolfe)": lambda: run_torch_style(
            lambda p: torch.optim.LBFGS(
                p,
                line_search_fn="strong_wolfe",
                tolerance_grad=tol,
                tolerance_change=1e-15,
                **budget,
            ),
            loss,
            size,
            device,
        ),
        "SciPy L-BFGS-B": lambda: run_scipy(loss, size, device, m, tol),
    }
    runs: dict[str, list[tuple[int, float, torch.Tensor]]] = {name: [] for name in methods}
    for _ in range(args.repeats):  # rounds interleaved across methods
        for name, method in methods.items():
            runs[name].append(method())
    print(
        f"\nL-BFGS on L2-regularized logistic regression: {args.samples} samples, "
        f"{args.features} features (+ bias), λ = {args.lam:g}, float64 on {device}; "
        f"m = {m}, stop at max |∇f| <= {tol:g}; median of {args.repeats} runs; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print_table(runs, loss)


def print_table(
    runs: dict[str, list[tuple[int, float, torch.Tensor]]],
    loss: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    print(
        "| method | evaluations | wall ms | ms / evaluation | time vs ours | max abs grad at end |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    ours = statistics.median(seconds for _, seconds, _ in next(iter(runs.values())))
    for name, results in runs.items():
        evaluations = statistics.median(count for count, _, _ in results)
        seconds = statistics.median(s for _, s, _ in results)
        point = results[-1][2].clone().requires_grad_()
        loss(point).backward()
        assert point.grad is not None
        print(
            f"| {name} | {evaluations:g} | {seconds * 1e3:.1f} | "
            f"{seconds * 1e3 / evaluations:.2f} | {seconds / ours:.2f}x | "
            f"{point.grad.abs().max().item():.1e} |"
        )


def options_lbfgs(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("lbfgs")
    group.add_argument("--samples", type=int, default=20_000)
    group.add_argument("--features", type=int, default=200)
    group.add_argument("--lam", type=float, default=1e-3, help="the L2 coefficient λ")
    group.add_argument("--history", type=int, default=10, help="the memory m")
    group.add_argument("--tolerance", type=float, default=1e-6, help="on max |∇f|")


# -- K-FAC and Hessian-free vs Adam and SGD on the deep autoencoder --------------------------

CODE_LAYERS = (1000, 500, 250, 30, 250, 500, 1000)


def deep_autoencoder():
    """784-1000-500-250-30-250-500-1000-784 (Hinton & Salakhutdinov 2006, the benchmark of
    Martens 2010 and Martens & Grosse 2015): logistic hidden units, a linear 30-unit code,
    logistic outputs, Martens's sparse initialization (15 non-zero N(0, 1) weights into each
    unit, zero biases; Martens 2010, §5)."""
    from deepdescent.layers import Dense, Input
    from deepdescent.models import Sequential

    layers = [
        Dense(units, "linear" if units == 30 else "sigmoid", kernel_initializer="sparse")
        for units in (*CODE_LAYERS, 784)
    ]
    layers[-1] = Dense(784, "sigmoid", kernel_initializer="sparse")
    return Sequential([Input(shape=(784,)), *layers])


def reconstruction_error(model, images: np.ndarray) -> float:
    """Squared error per image, summed over the 784 pixels (Hinton & Salakhutdinov's measure)."""
    reconstructions = model.predict(images, batch_size=1000, verbose=0)
    return float(((reconstructions - images) ** 2).sum(axis=1).mean())


class AutoencoderRun:
    """One method on the autoencoder, trained an epoch at a time from the shared initial
    weights: the seconds of each training epoch (wall, and the process's CPU time, which
    the other jobs of a shared machine move less) and the errors after it (computed
    outside the timed part).

    ``batch`` is one minibatch size, or one per epoch (the last kept for the epochs after):
    Martens & Grosse (2015, §13) grow K-FAC's minibatch during training. With ``checks``
    = k > 1 the test error is also measured k − 1 times inside each epoch (the clock
    stopped meanwhile), so that the time at which a method first reaches an error is
    known to a k-th of an epoch (:func:`first_time_below`)."""

    def __init__(
        self, name: str, make, batch: int | Sequence[int], initial: list, args, checks: int = 1
    ) -> None:
        self.name, self.args, self.checks = name, args, checks
        self.batches = [batch] if isinstance(batch, int) else list(batch)
        self.model = deep_autoencoder().to(args.device)
        with torch.no_grad():
            for param, value in zip(self.model.parameters(), initial, strict=True):
                param.copy_(value)
        self.optimizer = make()
        self.model.compile(optimizer=self.optimizer, loss="binary_crossentropy")
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []
        self.train_errors: list[float] = []
        self.test_errors: list[float] = []
        # (wall s, CPU s, test error) at every check, the ends of epochs included.
        self.trace: list[tuple[float, float, float]] = []

    @property
    def batch(self) -> int:
        """The minibatch size of the next epoch (of the last one trained, once done)."""
        return self.batches[min(len(self.seconds), len(self.batches) - 1)]

    def batch_of(self, epoch: int) -> int:
        return self.batches[min(epoch, len(self.batches) - 1)]

    def epoch(self, data: tuple[np.ndarray, np.ndarray]) -> None:
        train, test = data
        done, batch = len(self.seconds), self.batch
        clock = _Clock(self, test, math.ceil(len(train) / batch))
        self.model.fit(
            train,
            train,
            batch_size=batch,
            epochs=done + 1,
            initial_epoch=done,
            verbose=0,
            callbacks=[clock],
        )
        self.seconds.append(clock.wall)
        self.cpu_seconds.append(clock.cpu)
        self.train_errors.append(reconstruction_error(self.model, train))
        self.test_errors.append(reconstruction_error(self.model, test))
        self.trace.append((self.elapsed[-1], self.cpu_elapsed[-1], self.test_errors[-1]))

    @property
    def elapsed(self) -> list[float]:
        return list(itertools.accumulate(self.seconds))

    @property
    def cpu_elapsed(self) -> list[float]:
        return list(itertools.accumulate(self.cpu_seconds))


class _Clock(Callback):
    """Times one epoch of a run, less the test errors measured at its checks."""

    def __init__(self, run: AutoencoderRun, test: np.ndarray, steps: int) -> None:
        super().__init__()
        self.run, self.test, self.wall, self.cpu = run, test, 0.0, 0.0
        self.at = {round(k * steps / run.checks) for k in range(1, run.checks)} - {0, steps}

    def _start(self) -> None:
        synchronize(self.run.args.device)
        self.started, self.started_cpu = time.perf_counter(), time.process_time()

    def _stop(self) -> None:
        synchronize(self.run.args.device)
        self.wall += time.perf_counter() - self.started
        self.cpu += time.process_time() - self.started_cpu

    def on_epoch_begin(self, epoch, logs=None):
        self._start()

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 in self.at:
            self._stop()
            before = sum(self.run.seconds), sum(self.run.cpu_seconds)
            error = reconstruction_error(self.run.model, self.test)
            self.run.trace.append((before[0] + self.wall, before[1] + self.cpu, error))
            self._start()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()


def gradient_seconds(run: AutoencoderRun, train: np.ndarray) -> float:
    """The seconds of one gradient (forward and backward pass of the cost, as ``fit``'s
    closure computes it) on a minibatch of the run's size."""
    from deepdescent.training.gradient_path import make_objective

    objective = make_objective(run.model, "autograd")
    x = torch.from_numpy(train[: run.batch]).to(run.args.device)
    synchronize(run.args.device)
    start = time.perf_counter()
    objective.value_and_grad(x, x)
    synchronize(run.args.device)
    return time.perf_counter() - start


def tune(label: str, make, rates: list[float], batch: int, data, initial, args) -> float:
    """The learning rate of ``rates`` with the lowest training error after ``--ae-epochs``
    (the test set is not looked at); prints the sweep."""
    if len(rates) == 1:
        return rates[0]
    errors = {}
    for rate in rates:
        run = AutoencoderRun(label, lambda rate=rate: make(rate), batch, initial, args)
        for _ in range(args.ae_epochs):
            run.epoch(data)
        errors[rate] = run.train_errors[-1]
    print(f"\n{label}, batch {batch}: training error after {args.ae_epochs} epochs")
    print("| lr | " + " | ".join(f"{rate:g}" for rate in rates) + " |")
    print("| --- |" + " ---: |" * len(rates))
    print("| train error | " + " | ".join(f"{errors[r]:.2f}" for r in rates) + " |")
    return min(errors, key=errors.__getitem__)


def first_time_below(run: AutoencoderRun, target: float, cpu: bool = False) -> float | None:
    """The wall (or CPU) time of the first check (see :class:`AutoencoderRun`) whose test
    error is <= ``target``."""
    for wall, cpu_seconds, error in run.trace:
        if error <= target:
            return cpu_seconds if cpu else wall
    return None


def autoencoder_problem(args: argparse.Namespace) -> tuple[tuple[np.ndarray, np.ndarray], list]:
    """The first ``--ae-samples`` training and ``--ae-test`` test images (flattened, in
    [0, 1]) and the initial weights every method starts from (seed ``--ae-seed``)."""
    from deepdescent.datasets import fashion_mnist
    from deepdescent.utils import set_random_seed

    (x, _), (xt, _) = fashion_mnist.load_data()
    n, m = args.ae_samples, args.ae_test
    data = (
        (x[:n].reshape(n, -1) / 255.0).astype("float32"),
        (xt[:m].reshape(m, -1) / 255.0).astype("float32"),
    )
    set_random_seed(args.ae_seed)
    return data, [p.detach().clone() for p in deep_autoencoder().parameters()]


def section_autoencoder(args: argparse.Namespace) -> None:
    """Test error against wall time, from the same initial weights: Adam and SGD with
    momentum (learning rates tuned), K-FAC and Hessian-free."""
    from deepdescent.optimizers.first_order.adam import Adam
    from deepdescent.optimizers.first_order.sgd import SGD
    from deepdescent.optimizers.second_order.hessian_free import HessianFree
    from deepdescent.optimizers.second_order.kfac import KFAC

    data, initial = autoencoder_problem(args)
    adam_lr = tune(
        "Adam", lambda r: Adam(learning_rate=r), args.adam_lr, args.adam_batch, data, initial, args
    )
    sgd_lr = tune(
        "SGD, momentum 0.9",
        lambda r: SGD(learning_rate=r, momentum=0.9),
        args.sgd_lr,
        args.sgd_batch,
        data,
        initial,
        args,
    )
    hf_options = {
        "damping": args.hf_damping,
        "max_cg_iter": args.hf_cg,
        "curvature_fraction": args.hf_curvature,
        "backtracking": args.hf_backtracking,
    }
    methods = [
        (f"Adam (lr {adam_lr:g})", lambda: Adam(learning_rate=adam_lr), args.adam_batch),
        (
            f"SGD, momentum 0.9 (lr {sgd_lr:g})",
            lambda: SGD(learning_rate=sgd_lr, momentum=0.9),
            args.sgd_batch,
        ),
        ("K-FAC (adaptive, defaults)", KFAC, args.kfac_batch),
        ("K-FAC, growing batch (M&G §13)", KFAC, args.kfac_growing_batch),
        (
            f"Hessian-free (λ₀ {args.hf_damping:g}, max_cg_iter {args.hf_cg}, curvature on "
            f"{args.hf_curvature:g} of the batch, "
            f"{'with' if args.hf_backtracking else 'without'} CG-backtracking)",
            lambda: HessianFree(**hf_options),
            args.hf_batch,
        ),
    ]
    runs = [
        AutoencoderRun(name, make, batch, initial, args, checks=args.ae_checks)
        for name, make, batch in methods
    ]
    gradients: dict[int, list[float]] = {}
    for _ in range(args.ae_epochs):  # epochs interleaved across methods: the same machine load
        for run in runs:
            run.epoch(data)
        for run in runs:
            for _ in range(3):
                gradients.setdefault(run.batch, []).append(gradient_seconds(run, data[0]))
    print_autoencoder(runs, {b: statistics.median(t) for b, t in gradients.items()}, args)
    if args.ae_plot:
        plot_autoencoder(runs, args.ae_plot)


def print_autoencoder(runs: list[AutoencoderRun], gradient: dict[int, float], args) -> None:
    n, epochs = args.ae_samples, args.ae_epochs
    adam = runs[0]
    target, adam_total, adam_cpu = adam.test_errors[-1], adam.elapsed[-1], adam.cpu_elapsed[-1]
    print(
        f"\nDeep autoencoder 784-1000-500-250-30-250-500-1000-784 (2.84 M weights, sparse "
        f"initialization, the same initial weights for all), binary cross-entropy, on the "
        f"first {n} Fashion-MNIST training images (test: first {args.ae_test} test images), "
        f"{epochs} epochs interleaved across methods, float32 on {args.device}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; error = squared "
        f"reconstruction error per image; the test error measured {args.ae_checks} times per "
        f"epoch for the time to Adam's error; a gradient is one forward and backward pass at "
        f"the method's batch (median of 3 per epoch); step cost the median over epochs"
    )
    print(
        f"| method | batch | steps / epoch | s / epoch (mean) | {epochs} epochs vs Adam, wall | "
        f"CPU | step cost (gradients at its batch) | epoch cost (gradient passes at batch "
        f"{adam.batch}) | train error | test error | time to Adam's {epochs}-epoch test error "
        f"({target:.2f}) | CPU time to it |"
    )
    print("| --- |" + " ---: |" * 11)
    gradient_pass = math.ceil(n / adam.batch) * gradient[adam.batch]
    for run in runs:
        batches = [run.batch_of(epoch) for epoch in range(epochs)]
        steps = [math.ceil(n / batch) for batch in batches]
        step_cost = statistics.median(
            seconds / count / gradient[batch]
            for seconds, count, batch in zip(run.seconds, steps, batches, strict=True)
        )
        per_epoch = run.elapsed[-1] / epochs
        print(
            f"| {run.name} | {_spread(batches)} | {_spread(steps)} | {per_epoch:.2f} | "
            f"{run.elapsed[-1] / adam_total:.2f}x | {run.cpu_elapsed[-1] / adam_cpu:.2f}x | "
            f"{step_cost:.2f} | {per_epoch / gradient_pass:.2f} | {run.train_errors[-1]:.2f} | "
            f"{run.test_errors[-1]:.2f} | {_reached(run, target, adam_total)} | "
            f"{_reached(run, target, adam_cpu, cpu=True)} |"
        )
    print("\nTest error after each epoch (cumulative seconds in brackets)")
    print("| epoch | " + " | ".join(run.name for run in runs) + " |")
    print("| ---: |" + " ---: |" * len(runs))
    for epoch in range(epochs):
        cells = " | ".join(
            f"{run.test_errors[epoch]:.2f} ({run.elapsed[epoch]:.0f} s)" for run in runs
        )
        print(f"| {epoch + 1} | {cells} |")


def _spread(values: list[int]) -> str:
    """``125`` for a constant, ``125 → 2500`` for values that change."""
    return f"{values[0]}" if len(set(values)) == 1 else f"{values[0]} → {values[-1]}"


def _reached(run: AutoencoderRun, target: float, peer: float, cpu: bool = False) -> str:
    seconds = first_time_below(run, target, cpu=cpu)
    return "not reached" if seconds is None else f"{seconds:.1f} s ({seconds / peer:.2f}x)"


def plot_autoencoder(runs: list[AutoencoderRun], path: str) -> None:
    """Test error against cumulative training time, a marker per epoch; Adam's last error
    dashed. Written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from deepdescent.utils.io import atomic_path

    figure = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for run in runs:
        walls = [wall for wall, _, _ in run.trace]
        errors = [error for _, _, error in run.trace]
        axes.plot([0.0, *walls], [math.nan, *errors], marker=".", label=run.name)
    axes.axhline(runs[0].test_errors[-1], color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("wall time (s)")
    axes.set_ylabel("test reconstruction error")
    axes.set_title("Deep autoencoder on Fashion-MNIST")
    axes.legend(fontsize="small")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    print(f"\nplot: {path}")


def options_autoencoder(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("autoencoder")
    group.add_argument("--ae-samples", type=int, default=5000, help="training images used")
    group.add_argument("--ae-test", type=int, default=2000, help="test images used")
    group.add_argument("--ae-epochs", type=int, default=10)
    group.add_argument("--ae-seed", type=int, default=0)
    group.add_argument(
        "--adam-lr", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3], help="Adam's lrs tried"
    )
    group.add_argument(
        "--sgd-lr", type=float, nargs="+", default=[0.3, 1.0, 3.0, 10.0], help="SGD's lrs tried"
    )
    group.add_argument("--adam-batch", type=int, default=100)
    group.add_argument("--sgd-batch", type=int, default=100)
    group.add_argument("--kfac-batch", type=int, default=125)
    group.add_argument(
        "--kfac-growing-batch",
        type=int,
        nargs="+",
        default=[125, 125, 250, 500, 1000, 2000, 2500],
        help="the second K-FAC run's minibatch per epoch, the last kept for the later epochs",
    )
    group.add_argument(
        "--ae-checks",
        type=int,
        default=4,
        help="test errors measured per epoch (the clock stopped), for the time to Adam's error",
    )
    group.add_argument("--hf-batch", type=int, default=500)
    group.add_argument("--hf-cg", type=int, default=6, help="Hessian-free's max_cg_iter")
    group.add_argument("--hf-damping", type=float, default=0.1, help="Hessian-free's λ₀")
    group.add_argument(
        "--hf-curvature", type=float, default=0.1, help="Hessian-free's curvature_fraction"
    )
    group.add_argument(
        "--hf-backtracking",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="Hessian-free's CG-backtracking (one more forward pass a step at least)",
    )
    group.add_argument("--ae-plot", default="", help="write the plot (PNG) there")


# -- Hessian-vector products -----------------------------------------------------------------


def section_hvp(args: argparse.Namespace) -> None:
    """The cost of one Hessian-vector product (double backward) as a multiple of one
    gradient, on the lecture network and the deep autoencoder (goal: at most 2.5x)."""
    from deepdescent.autodiff import hessian_vector_product

    torch.manual_seed(0)
    cases = [
        ("784-32-10, batch 256", [784, 32, 10], 256),
        ("784-1000-500-250-30 encoder, batch 1024", [784, 1000, 500, 250, 30], 1024),
    ]
    print(f"\nHessian-vector product vs gradient, {args.device}, median of {args.hvp_repeats}")
    print("| network | gradient ms | HVP ms | HVP / gradient |")
    print("| --- | ---: | ---: | ---: |")
    for label, widths, batch in cases:
        layers: list[torch.nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(widths):
            layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.Sigmoid()]
        net = torch.nn.Sequential(*layers[:-1]).to(args.device)
        x = torch.randn(batch, widths[0], device=args.device)
        target = torch.randn(batch, widths[-1], device=args.device)
        params = list(net.parameters())
        vectors = [torch.randn_like(p) for p in params]

        def loss_fn(net=net, x=x, target=target) -> torch.Tensor:
            return F.mse_loss(net(x), target)

        def gradient(loss_fn=loss_fn, params=params) -> None:
            torch.autograd.grad(loss_fn(), params)

        def hvp(loss_fn=loss_fn, params=params, vectors=vectors) -> None:
            hessian_vector_product(loss_fn, params, vectors)

        times = {}
        for name, fn in (("gradient", gradient), ("hvp", hvp)):
            for _ in range(3):
                fn()
            samples = []
            for _ in range(args.hvp_repeats):
                synchronize(args.device)
                start = time.perf_counter()
                fn()
                synchronize(args.device)
                samples.append(time.perf_counter() - start)
            times[name] = statistics.median(samples) * 1e3
        ratio = times["hvp"] / times["gradient"]
        print(f"| {label} | {times['gradient']:.2f} | {times['hvp']:.2f} | {ratio:.2f}x |")


def options_hvp(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hvp")
    group.add_argument("--hvp-repeats", type=int, default=21)


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per method (median)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", help="run one section, by its part name (e.g. lbfgs)")
    parts = [name.removeprefix("section_") for name in globals() if name.startswith("section_")]
    for part in parts:
        options = globals().get(f"options_{part}")
        if options is not None:
            options(parser)
    args = parser.parse_args()
    if args.only is not None and args.only not in parts:
        parser.error(f"--only must be one of {parts}, got {args.only!r}")
    for part in parts:
        if args.only in (None, part):
            globals()[f"section_{part}"](args)


if __name__ == "__main__":
    main()
