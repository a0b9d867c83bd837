"""Fused optimizer bodies: a multi-tensor update compiled into one pass over memory.

An element-wise optimizer's multi-tensor body is a chain of ``torch._foreach_*`` calls,
each a full pass over θ, g and the state; torch ships fused kernels only for SGD,
Adagrad and Adam(W). For the other methods the chain is handed to ``torch.compile``:
inductor fuses it into one loop per tensor (C++/OpenMP on CPU, Triton on GPU) that
reads θ, g and the state once and writes them once.

How. An optimizer writes its multi-tensor arithmetic once, as a *kernel*: a function of
tensor lists (θ first, g second, then the state), of the step's changing scalars
(``dynamic``: the learning rate, bias corrections, per-tensor step coefficients) and of
the group's fixed options (``static``: β, δ, flags). Its multi-tensor body calls the
kernel through a ``run`` it is handed: :func:`run_eagerly` calls it as it is, with
Python floats; :class:`CompiledRun` calls its compiled form, with the dynamic scalars as
0-d tensors (one small buffer per step), so that a new learning rate or step count does
not recompile, and applies the group's weight decay inside the same pass. Compiled forms
are cached per (optimizer class, kernel, device, dtype, parameter shapes, static options,
weight-decay form) for the life of the process, and inductor's on-disk cache keeps the
generated code across processes. Each cached form gets a code object of its own, so
dynamo's recompile limit (8 per code object) never binds.

Where a kernel has a hand-written CPU body (:mod:`~deepdescent.optimizers.handwritten`:
LAMB, LARS and Adafactor, whose per-tensor norms inductor cannot fuse into the pass that
advances the state), :class:`CompiledRun` runs that body instead on CPU.

When. ``fused=True`` compiles; ``fused=False`` never does. ``fused=None`` (the default)
compiles a parameter group only when it holds at least :data:`COMPILE_MIN_ELEMENTS`
elements for its device, because a compile costs seconds and the pass it saves is worth
milliseconds. Measured on the project's machine (2 shared vCPUs, torch 2.13): importing
``torch._dynamo`` takes 1.5-3.5 s once per process; a body over 20 tensors compiles in
4-15 s with inductor's disk cache cold and 0.3-2 s warm (the same model and options in
an earlier process), over 100 tensors in 30-80 s cold and 3-5 s warm. The multi-tensor
bodies step 10 M float32 elements in 22-76 ms there (BENCHMARKS.md) where one pass takes
4-6 ms: the compiled body saves 2-7 ms per million elements per step, so at 4 M elements
(8-28 ms a step) a warm compile is repaid within a few hundred steps and a cold one
within a few thousand. On an H200 the multi-tensor bodies take 0.17-0.55 ms for 10 M
elements against about 0.07 ms for one pass, 10-45 µs per million: the CUDA threshold
is 64 M elements (0.7-3 ms a step). Below the thresholds, as for the lecture's
784-32-10 network (25 450 elements), the multi-tensor body runs and ``torch._dynamo`` is
never imported; ``fit`` keeps its speed.

The seconds spent compiling are added to the optimizer's ``compile_seconds`` and logged
once per compiled form at INFO level on the ``deepdescent.optimizers.compiled`` logger.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from deepdescent.optimizers import handwritten

__all__ = [
    "COMPILE_MIN_ELEMENTS",
    "CompiledRun",
    "Run",
    "add_",
    "addcdiv_",
    "compile_problem",
    "compiles",
    "lerp_",
    "norms",
    "run_eagerly",
    "worth_compiling",
]

#: The elements a parameter group must hold, per device type, for ``fused=None`` to
#: compile its body (see the module's docstring for the measurements behind them).
COMPILE_MIN_ELEMENTS: dict[str, int] = {"cpu": 1 << 22, "cuda": 1 << 26}

Tensors = Sequence[list[torch.Tensor]]
Dynamic = Mapping[str, Any]  # a float, or a list of floats (one per tensor)
Static = Mapping[str, Any]
Run = Callable[[Callable[..., None], Tensors, Dynamic, Static], None]

_log = logging.getLogger(__name__)
_DECAY_LR = "_decay_lr"


def run_eagerly(
    kernel: Callable[..., None], tensors: Tensors, dynamic: Dynamic, static: Static
) -> None:
    """The multi-tensor body: ``kernel(*tensors, **dynamic, **static)`` as written."""
    kernel(*tensors, **dynamic, **static)


def add_(tensors: list[torch.Tensor], others: list[torch.Tensor], alpha: Any) -> None:
    """``t ← t + α o`` for each tensor, where α may be a 0-d tensor: ``torch.compile``
    reads a tensor passed as ``alpha=`` as a float32 number (float64 bodies would lose
    precision), so a compiled kernel multiplies instead (fused into the same pass)."""
    if isinstance(alpha, torch.Tensor):
        torch._foreach_add_(tensors, torch._foreach_mul(others, alpha))
    else:
        torch._foreach_add_(tensors, others, alpha=alpha)


def norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each tensor's 2-norm (0-d tensors): ``torch._foreach_norm``, or in a compiled kernel
    one reduction per tensor, which inductor computes in the pass that makes the tensor
    (it runs ``_foreach_norm`` as a kernel of its own, on tensors written out first)."""
    if torch.compiler.is_compiling():
        return [torch.linalg.vector_norm(t) for t in tensors]
    return list(torch._foreach_norm(tensors))


def lerp_(tensors: list[torch.Tensor], ends: list[torch.Tensor], weights: list[Any]) -> None:
    """``t ← t + w (e − t)`` for each tensor with its own weight w, where the weights may
    be 0-d tensors: inductor has no fused form of ``torch._foreach_lerp_`` with a list of
    tensor weights, so a compiled kernel lerps tensor by tensor (then fused)."""
    if any(isinstance(w, torch.Tensor) for w in weights):
        for tensor, end, weight in zip(tensors, ends, weights, strict=True):
            tensor.lerp_(end, weight)
    else:
        torch._foreach_lerp_(tensors, ends, weights)


def addcdiv_(
    tensors: list[torch.Tensor],
    numerators: list[torch.Tensor] | tuple[torch.Tensor, ...],
    denominators: list[torch.Tensor] | tuple[torch.Tensor, ...],
    value: Any,
) -> None:
    """``t ← t + c · a / b`` for each tensor, with c one number for all or a list (one
    per tensor), numbers or, in a compiled kernel, 0-d tensors: ``torch._foreach_addcdiv_``
    takes only numbers, so a compiled kernel divides, multiplies and adds instead."""
    scalars = value if isinstance(value, list) else [value]
    if not any(isinstance(c, torch.Tensor) for c in scalars):
        if isinstance(value, list):
            torch._foreach_addcdiv_(tensors, numerators, denominators, value)
        else:
            torch._foreach_addcdiv_(tensors, numerators, denominators, value=value)
        return
    quotients = torch._foreach_div(numerators, denominators)
    torch._foreach_mul_(quotients, value)
    torch._foreach_add_(tensors, quotients)


def compile_problem(device_type: str) -> str | None:
    """Why a body cannot be compiled for tensors on ``device_type`` here, or ``None``."""
    if device_type == "cpu":
        default = (
            "cl" if sys.platform == "win32" else "clang++" if sys.platform == "darwin" else "g++"
        )
        compiler = os.environ.get("CXX", default)
        if shutil.which(compiler) is None:
            return (
                f"torch.compile builds CPU bodies with a C++ compiler, and {compiler!r} is "
                "not on PATH (install one, or name it in $CXX)"
            )
        return None
    if device_type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            return (
                "torch.compile builds CUDA bodies with Triton, which is not installed or "
                "does not support this GPU"
            )
        return None
    return f"torch.compile's fused bodies run on cpu and cuda tensors, not {device_type}"


def worth_compiling(params: Sequence[torch.Tensor]) -> bool:
    """Whether a group of ``params`` is large enough for ``fused=None`` to compile."""
    threshold = COMPILE_MIN_ELEMENTS.get(params[0].device.type)
    return threshold is not None and sum(p.numel() for p in params) >= threshold


def compiles(params: Sequence[torch.Tensor], insist: bool) -> bool:
    """Whether a pass over ``params`` (floating-point tensors of one device and dtype) is
    compiled: always when ``insist`` (``fused=True``), else when :func:`worth_compiling`,
    and only where ``torch.compile`` can build it (:func:`compile_problem`)."""
    first = params[0]
    return (insist or worth_compiling(params)) and compile_problem(first.device.type) is None


class CompiledRun:
    """The fused body's ``run``: the kernel compiled (once per form), with the group's
    weight decay applied inside the same pass, or its hand-written CPU body where it has
    one and the tensors fit (:func:`~deepdescent.optimizers.handwritten.takes`).

    Args:
        owner: the optimizer class (part of the cache key).
        decay: the class's ``_apply_weight_decay`` when the group's decay belongs before
            the kernel, else ``None``; it reads ``lr``, ``weight_decay`` and
            ``decoupled_weight_decay`` of ``group``.
        group: the parameter group.
        insist: ``fused=True``: a failure to compile raises; otherwise it warns once and
            the multi-tensor body runs instead.
        on_compile: called with the seconds each new compiled form took.
    """

    def __init__(
        self,
        owner: type,
        decay: Callable[..., list[torch.Tensor]] | None,
        group: Mapping[str, Any],
        insist: bool,
        on_compile: Callable[[float], None],
    ) -> None:
        self.owner, self.decay, self.group = owner, decay, group
        self.insist, self.on_compile = insist, on_compile

    def __call__(
        self, kernel: Callable[..., None], tensors: Tensors, dynamic: Dynamic, static: Static
    ) -> None:
        params = tensors[0]
        if not params:
            return
        if handwritten.takes(kernel, tensors) and self._run_by_hand(
            kernel, tensors, dynamic, static
        ):
            return
        dynamic = dict(dynamic)
        decay_options: tuple[Any, ...] = ()
        if self.decay is not None:
            dynamic[_DECAY_LR] = self.group["lr"]
            decay_options = (self.group["weight_decay"], self.group["decoupled_weight_decay"])
        layout = tuple(
            (name, len(value) if isinstance(value, (list, tuple)) else None)
            for name, value in dynamic.items()
        )
        key = (
            self.owner,
            kernel,
            params[0].device,
            params[0].dtype,
            tuple(p.shape for p in params),
            tuple(len(t) for t in tensors),
            layout,
            _frozen(static),
            decay_options,
        )
        body = _BODIES.get(key)
        if key in _BODIES and body is None:  # failed to compile before: stay eager
            self._run_eagerly(kernel, tensors, dynamic, static)
            return
        scalars = _scalar_buffer(dynamic, params[0])
        if body is not None:
            body(tensors, scalars)
            return
        body = _compile(kernel, layout, static, self.decay, decay_options)
        start = time.perf_counter()
        try:
            body(tensors, scalars)
        except Exception as error:
            if self.insist:
                raise
            _BODIES[key] = None
            warnings.warn(
                f"{self.owner.__name__}: torch.compile failed ({type(error).__name__}: "
                f"{error}); the multi-tensor body runs instead (pass fused=False to skip "
                "the attempt)",
                RuntimeWarning,
                stacklevel=2,
            )
            self._run_eagerly(kernel, tensors, dynamic, static)
            return
        seconds = time.perf_counter() - start
        _BODIES[key] = body
        _log.info(
            "%s: compiled %s for %s %s in %.2f s",
            self.owner.__name__,
            kernel.__name__,
            params[0].device,
            params[0].dtype,
            seconds,
        )
        self.on_compile(seconds)

    def _run_by_hand(
        self, kernel: Callable[..., None], tensors: Tensors, dynamic: Dynamic, static: Static
    ) -> bool:
        """The kernel's hand-written body (:mod:`~deepdescent.optimizers.handwritten`),
        after the group's weight decay where it belongs before the kernel; ``False`` when
        the extension failed to build (warned once, unless ``fused=True``, which raises):
        the compiled body runs instead."""
        global _by_hand_failed
        if _by_hand_failed:
            return False
        start = time.perf_counter()
        try:
            built = handwritten.load()
        except Exception as error:
            if self.insist:
                raise
            _by_hand_failed = True
            warnings.warn(
                f"{self.owner.__name__}: the hand-written body failed to build "
                f"({type(error).__name__}: {error}); the compiled body runs instead",
                RuntimeWarning,
                stacklevel=3,
            )
            return False
        seconds = time.perf_counter() - start
        if (self.owner, kernel) not in _BY_HAND_LOADED:
            _BY_HAND_LOADED.add((self.owner, kernel))
            _log.info(
                "%s: loaded the hand-written %s in %.2f s",
                self.owner.__name__,
                kernel.__name__,
                seconds,
            )
            self.on_compile(seconds)
        params, grads, *rest = tensors
        if self.decay is not None:
            grads = self.decay(self.group, params, grads)
        handwritten.BODIES[kernel](built, (params, grads, *rest), dynamic, static)
        return True

    def _run_eagerly(
        self, kernel: Callable[..., None], tensors: Tensors, dynamic: dict[str, Any], static: Static
    ) -> None:
        dynamic.pop(_DECAY_LR, None)
        params, grads, *rest = tensors
        if self.decay is not None:
            grads = self.decay(self.group, params, grads)
        kernel(params, grads, *rest, **dynamic, **static)


_BODIES: dict[tuple[Any, ...], Callable[..., None] | None] = {}
_BY_HAND_LOADED: set[tuple[type, Callable[..., None]]] = set()
_by_hand_failed = False


def _frozen(static: Static) -> tuple[Any, ...]:
    return tuple(
        (name, tuple(value) if isinstance(value, list) else value) for name, value in static.items()
    )


def _scalar_buffer(dynamic: Mapping[str, Any], like: torch.Tensor) -> torch.Tensor:
    """The dynamic scalars in one 1-D tensor on ``like``'s device: float64 for float64
    parameters, else float32 (the precision the eager kernels compute scalars in)."""
    values: list[float] = []
    for value in dynamic.values():
        values.extend(value if isinstance(value, (list, tuple)) else [value])
    dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
    buffer = torch.tensor(values, dtype=dtype)
    # A copy from pageable memory is staged at once: non_blocking never waits on the GPU.
    return buffer if like.device.type == "cpu" else buffer.to(like.device, non_blocking=True)


def _compile(
    kernel: Callable[..., None],
    layout: tuple[tuple[str, int | None], ...],
    static: Static,
    decay: Callable[..., list[torch.Tensor]] | None,
    decay_options: tuple[Any, ...],
) -> Callable[..., None]:
    static = dict(static)

    def fused_pass(tensors: Tensors, scalars: torch.Tensor) -> None:
        values: dict[str, Any] = {}
        index = 0
        for name, length in layout:
            if length is None:
                values[name] = scalars[index]
                index += 1
            else:
                values[name] = [scalars[index + i] for i in range(length)]
                index += length
        params, grads, *rest = tensors
        if decay is not None:
            weight_decay, decoupled = decay_options
            group = {
                "lr": values.pop(_DECAY_LR),
                "weight_decay": weight_decay,
                "decoupled_weight_decay": decoupled,
            }
            grads = decay(group, params, grads)
        kernel(params, grads, *rest, **values, **static)

    # A code object of its own: dynamo caches compiled frames per code object, up to 8.
    own = types.FunctionType(
        fused_pass.__code__.replace(),
        fused_pass.__globals__,
        fused_pass.__name__,
        fused_pass.__defaults__,
        fused_pass.__closure__,
    )
    return torch.compile(own, fullgraph=True, dynamic=False)
