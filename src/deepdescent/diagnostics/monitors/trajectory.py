"""TrajectoryRecorder: the parameters along training, for the landscape's projection."""

from __future__ import annotations

import torch

from deepdescent.diagnostics._objective import parameter_vector
from deepdescent.diagnostics.monitors.base import DiagnosticMonitor

__all__ = ["TrajectoryRecorder"]


class TrajectoryRecorder(DiagnosticMonitor):
    """Keeps θ (a flat CPU copy) at the start of training and every ``interval`` steps or
    epochs after: :attr:`trajectory` (``(T, n)``) with :attr:`trajectory_steps`, for
    :func:`~deepdescent.diagnostics.trajectory_directions` (Li et al. 2018, §7). Memory:
    T · n floats on the host. Writes nothing into the logs.
    """

    def __init__(self, interval: int = 1, unit: str = "epoch") -> None:
        super().__init__(interval, unit)
        self.snapshots: list[torch.Tensor] = []
        self.trajectory_steps: list[int] = []

    def start(self) -> None:
        self.snapshots, self.trajectory_steps = [], []
        self.record()

    def measure(self) -> dict[str, float]:
        self.snapshots.append(parameter_vector(self.model).cpu())
        self.trajectory_steps.append(self.steps)
        return {}

    @property
    def trajectory(self) -> torch.Tensor:
        """``(T, n)``: one row per recorded θ, the initial one first."""
        return torch.stack(self.snapshots)
