"""Callbacks that record the diagnostics during ``fit`` into the History logs.

Each measures at an interval (steps or epochs) and writes its latest values into the
epoch's logs; the full record of every measurement is the monitor's ``history``.
"""

from __future__ import annotations

from deepdescent.diagnostics.monitors.base import DiagnosticMonitor, ProbeMonitor
from deepdescent.diagnostics.monitors.cliffs import CliffMonitor
from deepdescent.diagnostics.monitors.curvature import CurvatureMonitor
from deepdescent.diagnostics.monitors.generalization import GeneralizationMonitor
from deepdescent.diagnostics.monitors.hessian import HessianMonitor
from deepdescent.diagnostics.monitors.noise import GradientNoiseMonitor
from deepdescent.diagnostics.monitors.saturation import SaturationMonitor
from deepdescent.diagnostics.monitors.trajectory import TrajectoryRecorder

__all__ = [
    "CliffMonitor",
    "CurvatureMonitor",
    "DiagnosticMonitor",
    "GeneralizationMonitor",
    "GradientNoiseMonitor",
    "HessianMonitor",
    "ProbeMonitor",
    "SaturationMonitor",
    "TrajectoryRecorder",
]
