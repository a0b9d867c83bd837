"""When monitors measure, where their values go, and that training is left alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diagnostics.monitors._fit import data, fit, model

from deepdescent.diagnostics.monitors import (
    CliffMonitor,
    CurvatureMonitor,
    DiagnosticMonitor,
    GeneralizationMonitor,
    GradientNoiseMonitor,
    HessianMonitor,
    SaturationMonitor,
    TrajectoryRecorder,
)


class Counter(DiagnosticMonitor):
    def measure(self):
        return {"count": float(len(self.history.get("step", [])))}


@pytest.mark.parametrize(
    ("interval", "unit", "steps", "epochs"),
    [(3, "batch", [1, 4, 7, 10], [0, 0, 1, 2]), (2, "epoch", [4, 12], [0, 2])],
)
def test_the_schedule_of_measurements(interval, unit, steps, epochs):
    """4 steps per epoch, 3 epochs: steps are counted over the run, from 1 after the first."""
    counter = Counter(interval, unit)
    history = fit(model(), [counter])
    assert counter.history["step"] == steps and counter.history["epoch"] == epochs
    assert len(history.history["count"]) == 3  # the latest value, once per epoch
    assert history.history["count"][-1] == len(steps) - 1


def test_monitors_leave_training_exactly_as_it_was():
    """Same seed with and without every monitor: the same weights, bit for bit."""
    x, y = data()
    plain = model()
    fit(plain, [])
    watched = model()
    monitors = [
        CurvatureMonitor(x[:20], y[:20], interval=2),
        HessianMonitor(x[:20], y[:20], trace_probes=3, interval=1),
        GradientNoiseMonitor(x[:20], y[:20], interval=3, unit="batch"),
        SaturationMonitor(x[:20]),
        CliffMonitor(update_interval=2),
        TrajectoryRecorder(),
        GeneralizationMonitor((x[:20], y[:20]), (x[20:], y[20:])),
    ]
    history = fit(watched, monitors)
    for a, b in zip(plain.parameters(), watched.parameters(), strict=True):
        assert torch.equal(a, b)
    expected = {
        "gradient_norm_sq",
        "hessian_eigenvalue_1",
        "hessian_trace",
        "gradient_noise_scale",
        "saturated/dense",
    }
    assert expected <= set(history.history)
    assert all(len(values) == 3 for values in history.history.values())


def test_probe_monitors_refuse_to_measure_outside_fit():
    x, y = data()
    monitor = CurvatureMonitor(x, y)
    with pytest.raises(RuntimeError, match="measures only during fit"):
        monitor.measure()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Counter(0, "batch"), "Invalid interval: 0"),
        (lambda: Counter(1, "step"), "Invalid unit: 'step'"),
        (lambda: HessianMonitor(np.zeros((2, 5)), np.zeros((2, 3)), k=0), "Invalid k: 0"),
        (lambda: CliffMonitor(spike_factor=-1.0), "Invalid spike_factor"),
    ],
)
def test_bad_monitor_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
