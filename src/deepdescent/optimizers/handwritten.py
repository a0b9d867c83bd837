"""Hand-written fused CPU bodies for the methods whose step needs per-tensor norms:
LAMB, LARS and Adafactor (``handwritten.cpp``).

Why. Their compiled bodies (:mod:`~deepdescent.optimizers.compiled`) move the bytes
they must, but inductor writes every reduction through a cascade-summation helper that
keeps its accumulator in memory: each vector add waits on a load and a store of the
previous sum, and a norm reads memory at about half the speed of a copy on one core of
the project's machine (2 vCPU AMD EPYC: 12-17 GB/s against 25-28 GB/s counted for
``torch._foreach_add_``). No inductor option turns that helper off. The C++ here sums
squares into 16 independent accumulators per norm and computes both norms a step needs in
the pass that advances the state, so a step is two passes per tensor (three for a
factored Adafactor matrix), each at the copy's speed.

Built once per machine with ``torch.utils.cpp_extension.load`` (needs a C++ compiler and
ninja): ``-O3 -march=native``, under a name that carries a digest of the source, the
flags and the CPU, in torch's extension directory (``$TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``); later processes load the built library in well under a
second. :class:`~deepdescent.optimizers.compiled.CompiledRun` runs a body of
:data:`BODIES` in place of ``torch.compile`` for tensors that :func:`takes`, and counts the
build or load in the optimizer's ``compile_seconds``.
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
