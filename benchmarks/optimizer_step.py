"""Time one optimizer ``step()`` against torch.optim's fastest body and the memory bound.

Parameters: ``--size`` float32 elements (10 M) split into ``--tensors`` tensors (20), with
gradients. For each step benchmark case of the optimizer catalogue
(:class:`deepdescent.optimizers.catalogue.StepBenchmark`, an entry's own and its
``benchmark_variants``): deepdescent's step, torch.optim's fused step (on CPU its
fastest: the default is a per-tensor loop and ``foreach`` is no faster there), and the
fraction of the in-place bandwidth — measured here with ``torch._foreach_add_`` over the
same tensors — that the step reaches given the bytes it must move per element. The three
are timed in interleaved rounds (bound, ours, torch; ``--calls`` calls each), so that a
shared machine's load falls on all of a round alike: the ratios ("ours/torch", "% of bw")
are medians over the rounds of each round's ratio, the times medians of the rounds.

The methods without a torch fused kernel run deepdescent's compiled body (10 M elements
are above :data:`~deepdescent.optimizers.compiled.COMPILE_MIN_ELEMENTS`); the seconds its
first step spent compiling are printed apart ("compile s"), after the one-off import of
``torch._dynamo``. The bytes of LAMB, LARS and Adafactor count the pass their per-tensor
norms need before the update (the least those methods can move); on CPU they run their
hand-written bodies (:mod:`deepdescent.optimizers.handwritten`; "compile s" is then the
extension's build or load), or with ``--no-handwritten`` their compiled ones.

    python benchmarks/optimizer_step.py [--repeats 15] [--calls 3] [--device cpu|cuda]
        [--compile-all] [--threads N] [--only LABEL ...] [--no-handwritten]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from collections.abc import Callable, Iterator

import torch

from deepdescent.optimizers import catalogue, compiled, handwritten


def rows() -> Iterator[tuple[str, catalogue.OptimizerInfo, catalogue.StepBenchmark]]:
    """(label, entry, case) of every step benchmark case of the catalogue, in its order:
    an entry's own case under its name, then its benchmark variants under theirs."""
    for entry in catalogue.CATALOGUE.values():
        if entry.benchmark is not None:
            yield entry.name, entry, entry.benchmark
        for label, case in entry.benchmark_variants.items():
            yield label, entry, case


def make_params(size: int, tensors: int, device: str) -> list[torch.Tensor]:
    params = [
        torch.randn(size // tensors, device=device, requires_grad=True) for _ in range(tensors)
    ]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    return params


def interleaved_samples(
    fns: list[Callable[[], object]], device: str, repeats: int, calls: int
) -> list[list[float]]:
    """For each function, ``repeats`` samples of the mean time of ``calls`` calls; each
    round times every function in turn (after warm-ups), so that a round's samples were
    taken under the same load."""
    for fn in fns:
        for _ in range(3):
            fn()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, times in zip(fns, samples, strict=True):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - start) / calls)
    return samples


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median over rounds of one round's ratio (robust to a load that changes
    between rounds)."""
    return statistics.median(n / d for n, d in zip(numerators, denominators, strict=True))


def torch_fastest(
    name: str | None, params: list[torch.Tensor], kwargs: dict
) -> torch.optim.Optimizer | None:
    """torch.optim's fused step where it has one, else its multi-tensor step; ``None``
    where torch has no such algorithm."""
    if name is None:
        return None
    cls = getattr(torch.optim, name)
    try:
        fused = cls(params, fused=True, **kwargs)
        fused.step()  # torch checks the device for its fused kernels at the first step
        return fused
    except (RuntimeError, TypeError, ValueError):
        return cls(params, foreach=True, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--tensors", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--compile-all",
        action="store_true",
        help="compile every body regardless of size (on CUDA the default threshold is "
        "above the 10 M elements timed here)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    parser.add_argument("--only", nargs="+", help="the rows whose labels start so")
    parser.add_argument(
        "--no-handwritten",
        action="store_true",
        help="run the compiled bodies of LAMB, LARS and Adafactor, not their hand-written "
        "CPU bodies (deepdescent.optimizers.handwritten)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.no_handwritten:
        handwritten.BODIES.clear()
    if args.compile_all:
        compiled.COMPILE_MIN_ELEMENTS[torch.device(args.device).type] = 0
    params = make_params(args.size, args.tensors, args.device)
    grads = [p.grad for p in params]
    scratch = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def in_place() -> None:
        torch._foreach_add_(scratch, grads)

    start = time.perf_counter()
    importlib.import_module("torch._dynamo")  # the compiled bodies' one-off cost, apart

    print(
        f"{args.size:,} float32 parameters in {args.tensors} tensors on {args.device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of "
        f"{args.repeats} interleaved rounds of {args.calls} calls; importing torch._dynamo took "
        f"{time.perf_counter() - start:.2f} s"
    )
    selected = [row for row in rows() if not args.only or row[0].startswith(tuple(args.only))]
    width = max(len("algorithm"), *(len(label) for label, _, _ in selected)) + 1
    print(
        f"{'algorithm':<{width}}{'B/elem':>7}{'ours ms':>9}{'torch ms':>10}{'ours/torch':>12}"
        f"{'% of bw':>9}{'bw GB/s':>9}{'compile s':>11}"
    )
    for label, entry, case in selected:
        nbytes = case.bytes_per_element
        ours = entry.build(params, **case.kwargs)
        theirs = torch_fastest(case.torch_name, params, case.torch_kwargs)
        ours.step()  # the first step compiles, where a compiled body runs
        compile_s = getattr(ours, "compile_seconds", 0.0)
        fns = [in_place, ours.step] + ([theirs.step] if theirs is not None else [])
        bound, ours_s, *theirs_s = interleaved_samples(fns, args.device, args.repeats, args.calls)
        share = nbytes / 12 / median_ratio(ours_s, bound)
        bandwidth = 12 * args.size / statistics.median(bound)
        theirs_ms, ratio = f"{'-':>10}", f"{'-':>12}"
        if theirs_s:
            theirs_ms = f"{statistics.median(theirs_s[0]) * 1e3:>10.3f}"
            ratio = f"{median_ratio(ours_s, theirs_s[0]):>11.2f}x"
        print(
            f"{label:<{width}}{nbytes:>7}{statistics.median(ours_s) * 1e3:>9.3f}{theirs_ms}{ratio}"
            f"{share:>8.0%}{bandwidth / 1e9:>9.1f}{compile_s:>11.2f}"
        )


if __name__ == "__main__":
    main()
