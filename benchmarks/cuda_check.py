"""CUDA checks and figures, for a machine with a GPU (run: python benchmarks/cuda_check.py).

1. SGD's fused, multi-tensor and per-tensor bodies on CUDA follow torch.optim.SGD(fused=True).
2. One SGD-with-momentum step over ~10 M float32 parameters in 20 tensors: deepdescent vs
   torch.optim's fused kernel vs in-place arithmetic over the same bytes (median of CUDA-event
   timings).
3. The trainer on CUDA: a training epoch runs with no host synchronisation (checked with
   torch.cuda.set_sync_debug_mode("error")), and fit of the lecture's network on 60 000
   synthetic 784-pixel samples is timed against a hand-written PyTorch loop on the GPU.
4. The compiled fused bodies (Triton) on CUDA: each follows its multi-tensor body to 1e-6
   relative in float32 over 10 steps, and a step runs with no host synchronisation.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from deepdescent.callbacks import CallbackList
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers import CATALOGUE, SGD
from deepdescent.training import BatchIterator, Trainer, bind_optimizer
from deepdescent.training.inputs import ArraySource

DEVICE = torch.device("cuda")


def check_sgd_matches_torch_fused() -> None:
    configs = [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}]
    bodies = {
        "fused": {},
        "foreach": {"fused": False},
        "per-tensor": {"fused": False, "foreach": False},
    }
    for config in configs:
        for body, flags in bodies.items():
            torch.manual_seed(0)
            ours = [torch.randn(s, device=DEVICE, requires_grad=True) for s in [(64, 32), (32,)]]
            theirs = [p.detach().clone().requires_grad_() for p in ours]
            opt_ours = SGD(ours, lr=0.05, **config, **flags)
            opt_theirs = torch.optim.SGD(theirs, lr=0.05, fused=True, **config)
            for _ in range(20):
                for params, opt in ((ours, opt_ours), (theirs, opt_theirs)):
                    opt.zero_grad()
                    sum((torch.sin(p) * p).sum() for p in params).backward()
                    opt.step()
            diff = max((a - b).abs().max().item() for a, b in zip(ours, theirs, strict=True))
            print(f"sgd {config or 'plain'} {body}: max |ours - torch fused| = {diff:.2e}")
            assert diff < 1e-6


def _time_cuda(fn, repeats: int = 50) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def time_optimizer_step() -> None:
    shapes = [(500_000,)] * 20
    params = [torch.randn(s, device=DEVICE, requires_grad=True) for s in shapes]
    for p in params:
        p.grad = torch.randn_like(p)
    ours = SGD(params, lr=1e-3, momentum=0.9)
    theirs = torch.optim.SGD(params, lr=1e-3, momentum=0.9, fused=True)
    buffers = [torch.zeros_like(p) for p in params]
    grads = [p.grad for p in params]

    @torch.no_grad()
    def in_place() -> None:
        torch._foreach_mul_(buffers, 0.9)
        torch._foreach_add_(buffers, grads)
        torch._foreach_add_(params, buffers, alpha=-1e-3)

    figures = {
        "deepdescent": _time_cuda(ours.step),
        "torch fused": _time_cuda(theirs.step),
        "in-place foreach": _time_cuda(in_place),
    }
    for name, ms in figures.items():
        print(
            f"sgd momentum step, 10M params: {name}: {ms:.3f} ms "
            f"({ms / figures['torch fused']:.2f}x torch fused)"
        )


def synthetic_data(n: int = 60_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    teacher = rng.normal(size=(784, 10)).astype(np.float32)
    labels = (x @ teacher).argmax(1)
    return x, np.eye(10, dtype=np.float32)[labels]


def lecture_model() -> Sequential:
    torch.manual_seed(0)
    model = Sequential(
        [Dense(32, activation="sigmoid", input_shape=(784,)), Dense(10, activation="softmax")]
    ).to(DEVICE)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def check_epoch_has_no_host_sync(x: np.ndarray, y: np.ndarray) -> None:
    model = lecture_model()
    x_t, y_t = model.prepare_data(x, y)
    bind_optimizer(model)
    trainer = Trainer(model)
    batches = ArraySource(BatchIterator(x_t, y_t, 128, True))
    trainer.train_epoch(batches, CallbackList(add_history=False, add_progbar=False))
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        trainer.train_epoch(batches, CallbackList(add_history=False, add_progbar=False))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    print(
        f"train epoch on cuda with sync debug mode 'error': ok "
        f"(objective {type(trainer.objective).__name__})"
    )


def fit_deepdescent(x: np.ndarray, y: np.ndarray, epochs: int) -> float:
    model = lecture_model()
    start = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, validation_split=0.1)
    torch.cuda.synchronize()
    return time.perf_counter() - start


def fit_torch_loop(x: np.ndarray, y: np.ndarray, epochs: int) -> float:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 32), torch.nn.Sigmoid(), torch.nn.Linear(32, 10)
    ).to(DEVICE)
    xs, labels = torch.from_numpy(x).to(DEVICE), torch.from_numpy(y.argmax(1)).to(DEVICE)
    split = int(len(xs) * 0.9)
    x_val, y_val, xs, labels = xs[split:], labels[split:], xs[:split], labels[:split]
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, fused=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(xs), device=DEVICE)
        for i in range(0, len(xs), 128):
            index = order[i : i + 128]
            loss = loss_fn(net(xs[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            loss_fn(net(x_val), y_val).item()
    torch.cuda.synchronize()
    return time.perf_counter() - start


# The catalogue's entries whose class has a compiled body.
COMPILED = [name for name, entry in CATALOGUE.items() if entry.cls._has_compiled_body()]


def check_compiled_bodies() -> None:
    for name in COMPILED:
        results = []
        for fused in (False, True):
            torch.manual_seed(0)
            params = [torch.randn(s, device=DEVICE, requires_grad=True) for s in [(64, 32), (32,)]]
            optimizer = CATALOGUE[name].build(params, lr=1e-3, fused=fused)
            for step in range(10):
                for param in params:
                    param.grad = torch.sin(3.0 * param.detach() + step)
                if fused and step == 9:
                    torch.cuda.set_sync_debug_mode("error")
                optimizer.step()
                torch.cuda.set_sync_debug_mode("default")
            results.append(params)
        difference = max(((a - b).norm() / b.norm()).item() for a, b in zip(*results, strict=True))
        print(
            f"{name} compiled on cuda: relative difference {difference:.1e}, compile "
            f"{optimizer.compile_seconds:.1f} s"
        )
        assert difference < 1e-6


def main() -> None:
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    check_sgd_matches_torch_fused()
    check_compiled_bodies()
    time_optimizer_step()
    x, y = synthetic_data()
    check_epoch_has_no_host_sync(x, y)
    fit_deepdescent(x, y, 1)
    fit_torch_loop(x, y, 1)
    ours = [fit_deepdescent(x, y, 5) for _ in range(3)]
    theirs = [fit_torch_loop(x, y, 5) for _ in range(3)]
    print(
        f"fit 5 epochs on cuda: deepdescent median {statistics.median(ours):.2f} s "
        f"{[round(t, 2) for t in ours]}, torch loop median {statistics.median(theirs):.2f} s "
        f"{[round(t, 2) for t in theirs]}, ratio "
        f"{statistics.median(ours) / statistics.median(theirs):.2f}x"
    )


if __name__ == "__main__":
    main()
