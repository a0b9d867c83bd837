"""Mixed-precision training (Micikevicius et al., "Mixed Precision Training", ICLR 2018).

Weights and the optimizer's state stay in float32; the forward pass and the loss run
under ``torch.autocast`` in float16 or bfloat16. With float16, whose range is narrow,
the loss is multiplied by a scale S before back-propagation so that small gradients do
not flush to zero; the gradients are divided by S before the update, and a step whose
gradients overflow is skipped while S is halved (S grows again after a run of good
steps): torch's ``GradScaler``. bfloat16 has float32's range and needs no scaling.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from deepdescent.config import DTypePolicy

__all__ = ["MixedPrecision", "precision_of"]


class MixedPrecision:
    """The autocast context and loss scaling of one run under a mixed ``policy``."""

    def __init__(self, policy: DTypePolicy, device: torch.device) -> None:
        if not policy.is_mixed:
            raise ValueError(f"Invalid policy: {policy.name!r} (expected a mixed_* policy)")
        self.policy = policy
        self.device_type = device.type
        self.compute_dtype = getattr(torch, policy.compute_dtype)
        self.scaler = torch.amp.GradScaler(
            self.device_type, enabled=self.compute_dtype == torch.float16
        )

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Run the enclosed forward pass in the policy's compute dtype."""
        with torch.autocast(device_type=self.device_type, dtype=self.compute_dtype):
            yield

    def step(
        self,
        model: Any,
        objective: Any,
        optimizer: Any,
        x: Any,
        y: Any,
        weights: Any,
        admit: Callable[[torch.Tensor], bool] | None = None,
    ) -> tuple[torch.Tensor, Any]:
        """One optimizer step on a minibatch: forward under autocast, the scaled loss
        back-propagated, the step taken unless the gradients overflowed or ``admit(cost)``
        (the non-finite guard) refuses it. Returns the (unscaled) cost and the outputs,
        detached."""
        model.zero_grad(set_to_none=True)
        with self.autocast():
            cost, outputs = objective(x, y, weights)
        self.scaler.scale(cost.float()).backward()
        if admit is None or admit(cost.detach().float()):
            self.scaler.step(optimizer)
            self.scaler.update()
        detached = outputs.detach() if isinstance(outputs, torch.Tensor) else outputs
        return cost.detach().float(), detached

    @property
    def scale(self) -> float:
        """The current loss scale S (1 when there is no scaling)."""
        return float(self.scaler.get_scale()) if self.scaler.is_enabled() else 1.0


def precision_of(model: Any) -> MixedPrecision | None:
    """The mixed precision of ``model``'s dtype policy, or ``None`` for a plain one."""
    policy = getattr(model, "dtype_policy", None)
    if policy is None or not policy.is_mixed:
        return None
    return MixedPrecision(policy, model.device)
