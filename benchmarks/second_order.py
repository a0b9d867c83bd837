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

* :func:`section_autoencoder` — Hessian-free and K-FAC against Adam on the deep
  autoencoder (Hinton & Salakhutdinov): time per epoch and reconstruction error.
* :func:`section_hvp` — the cost of a Hessian-vector product in gradients.

    python benchmarks/second_order.py [--repeats 5] [--device cpu|cuda] [--only PART]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize

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


# -- Hessian-free and K-FAC vs Adam on the deep autoencoder -----------------------------------

CODE_LAYERS = (1000, 500, 250, 30, 250, 500, 1000)


def deep_autoencoder():
    """784-1000-500-250-30-250-500-1000-784 (Hinton & Salakhutdinov 2006, the benchmark of
    Martens 2010): logistic hidden units, a linear 30-unit code, logistic outputs."""
    from deepdescent.layers import Dense, Input
    from deepdescent.models import Sequential

    layers = [Dense(units, "linear" if units == 30 else "sigmoid") for units in CODE_LAYERS]
    return Sequential([Input(shape=(784,)), *layers, Dense(784, "sigmoid")])


def reconstruction_error(model, images: np.ndarray) -> float:
    """Squared error per image, summed over the 784 pixels (Hinton & Salakhutdinov's measure)."""
    reconstructions = model.predict(images, batch_size=1000, verbose=0)
    return float(((reconstructions - images) ** 2).sum(axis=1).mean())


def autoencoder_run(
    optimizer: torch.optim.Optimizer, batch: int, data: tuple[np.ndarray, np.ndarray], args
) -> tuple[list[float], list[float], float]:
    """Train for ``--ae-epochs``; the seconds of each epoch, the training-set error after
    each, and the test-set error at the end (errors are computed outside the timed part)."""
    from deepdescent.callbacks import Callback
    from deepdescent.utils import set_random_seed

    train, test = data
    seconds: list[float] = []
    errors: list[float] = []

    class Probe(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            synchronize(args.device)
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            synchronize(args.device)
            seconds.append(time.perf_counter() - self.start)
            errors.append(reconstruction_error(model, train))

    set_random_seed(args.ae_seed)
    model = deep_autoencoder().to(args.device)
    model.compile(optimizer=optimizer, loss="binary_crossentropy")
    model.fit(train, train, batch_size=batch, epochs=args.ae_epochs, verbose=0, callbacks=[Probe()])
    return seconds, errors, reconstruction_error(model, test)


def section_autoencoder(args: argparse.Namespace) -> None:
    """Time per epoch and reconstruction error at equal epochs: Adam, K-FAC, Hessian-free."""
    import math

    from deepdescent.datasets import fashion_mnist
    from deepdescent.optimizers.first_order.adam import Adam
    from deepdescent.optimizers.second_order.hessian_free import HessianFree
    from deepdescent.optimizers.second_order.kfac import KFAC

    (x, _), (xt, _) = fashion_mnist.load_data()
    n, m = args.ae_samples, args.ae_test
    data = (
        (x[:n].reshape(n, -1) / 255.0).astype("float32"),
        (xt[:m].reshape(m, -1) / 255.0).astype("float32"),
    )
    methods = {
        "Adam (lr 1e-3)": (lambda: Adam(), args.adam_batch),
        "K-FAC (defaults)": (lambda: KFAC(), args.kfac_batch),
        f"Hessian-free (max_cg_iter {args.hf_cg})": (
            lambda: HessianFree(max_cg_iter=args.hf_cg),
            args.hf_batch,
        ),
    }
    results = {
        name: autoencoder_run(make(), batch, data, args) for name, (make, batch) in methods.items()
    }
    print(
        f"\nDeep autoencoder 784-1000-500-250-30-250-500-1000-784 (2.84 M weights), binary "
        f"cross-entropy, on the first {n} Fashion-MNIST training images (test: first {m} test "
        f"images), {args.ae_epochs} epochs, float32 on {args.device}; one run each, seconds per "
        f"epoch the median over its epochs; error = squared reconstruction error per image; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(
        "| method | batch | updates / epoch | s / epoch | time vs Adam | train error | test error |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    adam = statistics.median(next(iter(results.values()))[0])
    for name, (seconds, errors, test_error) in results.items():
        batch = methods[name][1]
        per_epoch = statistics.median(seconds)
        print(
            f"| {name} | {batch} | {math.ceil(n / batch)} | {per_epoch:.2f} | "
            f"{per_epoch / adam:.1f}x | {errors[-1]:.1f} | {test_error:.1f} |"
        )
    print("\n| epoch | " + " | ".join(results) + " |")
    print("| ---: |" + " ---: |" * len(results))
    for epoch in range(args.ae_epochs):
        cells = " | ".join(f"{errors[epoch]:.1f}" for _, errors, _ in results.values())
        print(f"| {epoch + 1} | {cells} |")


def options_autoencoder(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("autoencoder")
    group.add_argument("--ae-samples", type=int, default=2000, help="training images used")
    group.add_argument("--ae-test", type=int, default=1000, help="test images used")
    group.add_argument("--ae-epochs", type=int, default=10)
    group.add_argument("--ae-seed", type=int, default=0)
    group.add_argument("--adam-batch", type=int, default=100)
    group.add_argument("--kfac-batch", type=int, default=100)
    group.add_argument("--hf-batch", type=int, default=500)
    group.add_argument("--hf-cg", type=int, default=50, help="Hessian-free's max_cg_iter")


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
