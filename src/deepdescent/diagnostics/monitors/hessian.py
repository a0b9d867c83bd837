"""HessianMonitor: the Hessian's extreme eigenvalues and trace, as training goes."""

from __future__ import annotations

from typing import Any

from deepdescent.diagnostics._objective import LossArgument
from deepdescent.diagnostics.monitors.base import ProbeMonitor
from deepdescent.diagnostics.spectrum import (
    EXACT_LIMIT,
    choose_method,
    hessian_eigenvalues,
    hessian_trace,
)
from deepdescent.utils._checks import check_count

__all__ = ["HessianMonitor"]


class HessianMonitor(ProbeMonitor):
    """The k largest eigenvalues of the probe batch's Hessian (``hessian_eigenvalue_1`` …
    ``hessian_eigenvalue_k``), the smallest (``hessian_smallest_eigenvalue``: below zero,
    a direction of negative curvature — a saddle's way down, §8.2.3) and, with
    ``trace_probes``, Hutchinson's trace (``hessian_trace``).

    Cost per measurement, in Hessian-vector products (each about two gradients of the
    probe batch): Lanczos needs tens per end of the spectrum, ``trace_probes`` more for
    the trace; see ``benchmarks/diagnostics.py``.

    Args:
        x, y: the probe batch.
        loss_fn: the loss (default: the model's compiled one).
        k: how many of the largest eigenvalues.
        smallest: also the smallest eigenvalue.
        trace_probes: Rademacher probes for the trace (0: no trace).
        method: ``"lanczos"``, ``"power"`` or ``"exact"``; a model above ``exact_limit``
            parameters falls back from ``"exact"`` to Lanczos, with one warning when
            training starts (:attr:`method` then says ``"lanczos"``).
        tol: the eigenvalues' residual tolerance.
        interval, unit: measure every ``interval`` epochs (default) or steps.
        seed: seeds the random start vectors (measurement i uses seed + i).
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        loss_fn: LossArgument = None,
        k: int = 1,
        smallest: bool = True,
        trace_probes: int = 0,
        method: str = "lanczos",
        tol: float = 1e-4,
        interval: int = 1,
        unit: str = "epoch",
        seed: int = 0,
        exact_limit: int = EXACT_LIMIT,
    ) -> None:
        super().__init__(x, y, loss_fn, interval, unit)
        self.k = check_count("k", k)
        self.trace_probes = check_count("trace_probes", trace_probes, minimum=0)
        self.smallest, self.tol, self.seed = bool(smallest), tol, seed
        self.requested_method, self.method, self.exact_limit = method, method, exact_limit

    def start(self) -> None:
        super().start()
        self.method = choose_method(
            self.requested_method,
            ("lanczos", "power", "exact"),
            self.probe.size,
            self.exact_limit,
            "HessianMonitor",
        )

    def measure(self) -> dict[str, float]:
        probe = self.probe
        seed = self.seed + len(self.history.get("step", []))
        batch = (self.model, self.loss_fn, probe.x, probe.y)
        top = hessian_eigenvalues(*batch, k=self.k, method=self.method, tol=self.tol, seed=seed)
        values = {f"hessian_eigenvalue_{i + 1}": float(v) for i, v in enumerate(top.values)}
        if self.smallest:
            bottom = hessian_eigenvalues(
                *batch, which="smallest", method=self.method, tol=self.tol, seed=seed
            )
            values["hessian_smallest_eigenvalue"] = float(bottom.values[0])
        if self.trace_probes:
            trace = hessian_trace(*batch, num_probes=self.trace_probes, seed=seed)
            values["hessian_trace"] = trace.value
        return values
