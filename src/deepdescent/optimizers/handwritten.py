"""Hand-written fused CPU bodies for the methods whose step needs per-tensor norms:
LAMB, LARS and Adafactor (``handwritten.cpp``).

Why. Their compiled bodies (:mod:`~deepdescent.optimizers.compiled`) move no more bytes
than they must, but inductor gives each norm a loop of its own over one tensor, and on
one core of the project's machine (2 vCPU AMD EPYC, torch 2.13) such a single-stream
reduction reads at about half the copy's speed per byte: the sum of squares of 10 M
float32 in 20 tensors took 6.8 ms compiled and 6.6 ms with ``torch._foreach_norm``
against 9.4 ms for the 12-byte ``_foreach_add_`` in the same rounds (0.46 and 0.50 of its
speed per byte). Each such loop is vectorized with one accumulator (a cascade-summation
helper); ``aggressive_fusion`` leaves the norm loops of a tensor apart, and the ``cpp``
options do not touch the helper. So the compiled LAMB, LARS and Adafactor reached 62-72%
of the in-place bound (``benchmarks/optimizer_step.py --no-handwritten``), the
hand-written ones 99-109% (BENCHMARKS.md).

The C++ here computes every norm a step needs in the pass that advances the state
(LAMB: ‖x‖ and ‖r‖ while it writes m and v; LARS: ‖w‖ and ‖g‖ in one pass; Adafactor:
‖X‖ and ‖U‖ while it writes V̂), into 16 independent accumulators per norm, then moves
the tensor in a second pass: two passes per tensor (three for a factored Adafactor
matrix), each reading several streams at once. The arithmetic is the multi-tensor
body's, operation by operation and with no contraction into fused multiply-adds; only
the order of the additions in a norm differs (the blocks add up in double). The L2 form
of weight decay (LAMB's and Adafactor's ``decoupled_weight_decay=False``) adds λθ to g
in a pass of its own before the body, as in the multi-tensor body.

Built once per machine with ``torch.utils.cpp_extension.load`` (needs a C++ compiler and
ninja; 90-110 s here): ``-O3 -march=native``, under a name that carries a digest of the
source, the flags and the CPU, in torch's extension directory (``$TORCH_EXTENSIONS_DIR``,
by default ``~/.cache/torch_extensions``); later processes load the built library in a
tenth of a second. :class:`~deepdescent.optimizers.compiled.CompiledRun` runs a body of
:data:`BODIES` in place of ``torch.compile`` for tensors that :func:`takes`, and counts
the build or load in the optimizer's ``compile_seconds``; a build that fails warns once
and leaves the compiled body to run (``fused=True`` raises instead).
"""

from __future__ import annotations

import hashlib
import platform
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

__all__ = ["BODIES", "Body", "build_problem", "load", "register", "takes"]

#: A hand-written body: ``body(module, tensors, dynamic, static)``, with the kernel's
#: tensor lists, changing scalars (Python floats) and fixed options, calling ``module``.
Body = Callable[
    [ModuleType, Sequence[list[torch.Tensor]], Mapping[str, Any], Mapping[str, Any]], None
]

#: The multi-tensor kernels that have a hand-written CPU body, and that body.
BODIES: dict[Callable[..., None], Body] = {}

_SOURCE = Path(__file__).with_name("handwritten.cpp")
_FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-ffp-contract=off", "-fopenmp"]
_DTYPES = (torch.float32, torch.float64)
_module: ModuleType | None = None


def register(kernel: Callable[..., None], body: Body) -> None:
    """Name ``body`` as the hand-written CPU form of the multi-tensor ``kernel``."""
    BODIES[kernel] = body


def build_problem() -> str | None:
    """Why the hand-written bodies cannot be built here, or ``None``."""
    from deepdescent.optimizers.compiled import compile_problem

    problem = compile_problem("cpu")
    if problem is None and shutil.which("ninja") is None:
        problem = "torch.utils.cpp_extension builds with ninja, which is not on PATH"
    return problem


def takes(kernel: Callable[..., None], tensors: Sequence[list[torch.Tensor]]) -> bool:
    """Whether ``kernel`` has a hand-written body for these tensors: dense, contiguous,
    non-empty CPU tensors of one floating dtype (float32 or float64), and a machine that
    can build it."""
    if kernel not in BODIES:
        return False
    dtype = tensors[0][0].dtype
    fit = all(
        t.device.type == "cpu"
        and t.dtype == dtype
        and t.layout == torch.strided
        and t.is_contiguous()
        and t.numel() > 0
        for tensor_list in tensors
        for t in tensor_list
    )
    return fit and dtype in _DTYPES and build_problem() is None


def load() -> ModuleType:
    """The built extension: built on this machine's first call (tens of seconds), loaded
    from torch's extension directory afterwards, kept for the process. Raises what the
    build raises."""
    global _module
    if _module is None:
        from torch.utils import cpp_extension

        digest = hashlib.sha256(
            _SOURCE.read_bytes() + " ".join(_FLAGS).encode() + _cpu().encode()
        ).hexdigest()[:16]
        _module = cpp_extension.load(
            f"deepdescent_handwritten_{digest}",
            [str(_SOURCE)],
            extra_cflags=_FLAGS,
            extra_ldflags=["-fopenmp"],
        )
    return _module


def _cpu() -> str:
    """The processor, as ``-march=native`` sees it (a library built for one CPU may not
    run on another that shares the extension directory)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    flags = [line for line in info.splitlines() if line.startswith(("model name", "flags"))]
    return platform.machine() + "".join(sorted(set(flags)))
