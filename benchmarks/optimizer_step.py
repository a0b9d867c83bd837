"""Time one optimizer ``step()`` against torch.optim's fastest body and the memory bound.

Parameters: ``--size`` float32 elements (10 M) split into ``--tensors`` tensors (20), with
gradients. For each algorithm: deepdescent's step, torch.optim's fused step (on CPU its
fastest: the default is a per-tensor loop and ``foreach`` is no faster there), and the
fraction of the in-place bandwidth — measured here with ``torch._foreach_add_`` over the
same tensors — that the step reaches given the bytes it must move per element.

    python benchmarks/optimizer_step.py [--repeats 7] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from deepdescent import optimizers

# name, deepdescent kwargs, torch class name, torch kwargs, bytes moved per element (fp32:
# reads + writes of parameter, gradient and state).
CASES = [
    ("SGD", "sgd", {"lr": 1e-3}, "SGD", {"lr": 1e-3}, 12),
    (
        "SGD momentum",
        "sgd",
        {"lr": 1e-3, "momentum": 0.9},
        "SGD",
        {"lr": 1e-3, "momentum": 0.9},
        20,
    ),
    (
        "SGD Nesterov",
        "sgd",
        {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
        "SGD",
        {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
        20,
    ),
    ("Adagrad", "adagrad", {"lr": 1e-2, "eps": 1e-10}, "Adagrad", {"lr": 1e-2}, 20),
    ("RMSprop", "rmsprop", {"lr": 1e-3}, "RMSprop", {"lr": 1e-3}, 20),
    ("Adam", "adam", {"lr": 1e-3}, "Adam", {"lr": 1e-3}, 28),
    ("AdamW", "adamw", {"lr": 1e-3}, "AdamW", {"lr": 1e-3}, 28),
    ("NAdam", "nadam", {"lr": 1e-3}, "NAdam", {"lr": 1e-3}, 28),
    ("RAdam", "radam", {"lr": 1e-3}, "RAdam", {"lr": 1e-3}, 28),
    ("Adamax", "adamax", {"lr": 1e-3}, "Adamax", {"lr": 1e-3}, 28),
    ("Adadelta", "adadelta", {"lr": 1.0}, "Adadelta", {"lr": 1.0}, 28),
    ("Rprop", "rprop", {"lr": 1e-3}, "Rprop", {"lr": 1e-3}, 28),
    ("AdaBelief", "adabelief", {"lr": 1e-3}, None, {}, 28),
    ("Lion", "lion", {"lr": 1e-4}, None, {}, 20),
]


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
    for label, ours_name, ours_kwargs, torch_name, torch_kwargs, nbytes in CASES:
        if ours_name not in optimizers.CATALOGUE:
            print(f"{label:<14}  (not in the catalogue yet)")
            continue
        ours = optimizers.CATALOGUE[ours_name](params, **ours_kwargs)
        theirs = torch_fastest(torch_name, params, torch_kwargs)
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
