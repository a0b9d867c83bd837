"""Time one optimizer ``step()`` against torch.optim's fastest body and the memory bound.

Parameters: ``--size`` float32 elements (10 M) split into ``--tensors`` tensors (20), with
gradients. For each entry of the optimizer catalogue that has a step benchmark case
(:class:`deepdescent.optimizers.catalogue.StepBenchmark`): deepdescent's step, torch.optim's
fused step (on CPU its fastest: the default is a per-tensor loop and ``foreach`` is no
faster there), and the fraction of the in-place bandwidth — measured here with
``torch._foreach_add_`` over the same tensors — that the step reaches given the bytes it
must move per element.

    python benchmarks/optimizer_step.py [--repeats 7] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from deepdescent.optimizers import catalogue


def make_params(size: int, tensors: int, device: str) -> list[torch.Tensor]:
    params = [
        torch.randn(size // tensors, device=device, requires_grad=True) for _ in range(tensors)
    ]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    return params


def seconds_per_call(
    fn: Callable[[], object], device: str, repeats: int, calls: int = 10
) -> tuple[float, list[float]]:
    """Median over ``repeats`` of the mean time of ``calls`` calls (after a warm-up)."""
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if device == "cuda":
            torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples), samples


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
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    params = make_params(args.size, args.tensors, args.device)
    grads = [p.grad for p in params]
    scratch = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def in_place() -> None:
        torch._foreach_add_(scratch, grads)

    bound, _ = seconds_per_call(in_place, args.device, args.repeats)
    bandwidth = 12 * args.size / bound
    print(
        f"{args.size:,} float32 parameters in {args.tensors} tensors on {args.device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of "
        f"{args.repeats}"
    )
    print(
        f"in-place bandwidth (_foreach_add_, 12 B/element): {bound * 1e3:.3f} ms, "
        f"{bandwidth / 1e9:.1f} GB/s"
    )
    print(
        f"{'algorithm':<14}{'B/elem':>7}{'ours ms':>9}{'torch ms':>10}{'ours/torch':>12}"
        f"{'% of bw':>9}"
    )
    for entry in catalogue.CATALOGUE.values():
        case = entry.benchmark
        if case is None:
            continue
        label, nbytes = entry.name, case.bytes_per_element
        ours = entry.build(params, **case.kwargs)
        theirs = torch_fastest(case.torch_name, params, case.torch_kwargs)
        ours_s, _ = seconds_per_call(ours.step, args.device, args.repeats)
        share = nbytes * args.size / ours_s / bandwidth
        if theirs is None:
            print(f"{label:<14}{nbytes:>7}{ours_s * 1e3:>9.3f}{'-':>10}{'-':>12}{share:>8.0%}")
            continue
        theirs_s, _ = seconds_per_call(theirs.step, args.device, args.repeats)
        print(
            f"{label:<14}{nbytes:>7}{ours_s * 1e3:>9.3f}{theirs_s * 1e3:>10.3f}"
            f"{ours_s / theirs_s:>11.2f}x{share:>8.0%}"
        )


if __name__ == "__main__":
    main()
