"""The probe monitors record what the functions compute at the same parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diagnostics.monitors._fit import data, fit, model

from deepdescent.diagnostics import (
    curvature_along_gradient,
    generalization,
    gradient_noise,
    hessian_eigenvalues,
    hessian_trace,
    parameter_vector,
    saturation,
)
from deepdescent.diagnostics.monitors import (
    CurvatureMonitor,
    GeneralizationMonitor,
    GradientNoiseMonitor,
    HessianMonitor,
    SaturationMonitor,
    TrajectoryRecorder,
)


def test_curvature_monitor_at_the_end_of_each_epoch():
    x, y = data()
    net = model()
    monitor = CurvatureMonitor(x[:32], y[:32], unit="epoch", interval=1)
    history = fit(net, [monitor])
    direct = curvature_along_gradient(net, None, x[:32], y[:32])
    assert history.history["gradient_curvature"][-1] == pytest.approx(direct.curvature, rel=1e-5)
    assert history.history["predicted_change"][-1] == pytest.approx(
        direct.predicted_change, rel=1e-5
    )
    assert direct.learning_rate == pytest.approx(0.5)


def test_hessian_monitor_and_the_exact_fallback():
    x, y = data()
    net = model()
    monitor = HessianMonitor(x[:32], y[:32], k=2, trace_probes=5, method="exact", exact_limit=20)
    with pytest.warns(
        UserWarning,
        match="HessianMonitor: method='exact' .* 57 parameters exceed exact_limit=20; using",
    ) as caught:
        history = fit(net, [monitor])
    assert len(caught) == 1 and monitor.method == "lanczos"
    exact = hessian_eigenvalues(net, None, x[:32], y[:32], k=2, method="exact")
    smallest = hessian_eigenvalues(net, None, x[:32], y[:32], which="smallest", method="exact")
    recorded = [
        history.history["hessian_eigenvalue_1"][-1],
        history.history["hessian_eigenvalue_2"][-1],
    ]
    np.testing.assert_allclose(recorded, exact.values.numpy(), rtol=1e-3)
    assert history.history["hessian_smallest_eigenvalue"][-1] == pytest.approx(
        float(smallest.values[0]), rel=1e-2, abs=1e-4
    )
    trace = hessian_trace(net, None, x[:32], y[:32], num_probes=5, seed=2)
    assert history.history["hessian_trace"][-1] == pytest.approx(trace.value, rel=1e-4)


def test_gradient_noise_monitor():
    x, y = data()
    net = model()
    monitor = GradientNoiseMonitor(x[:32], y[:32], hessian=True)
    history = fit(net, [monitor])
    direct = gradient_noise(net, None, x[:32], y[:32], hessian=True)
    assert history.history["gradient_variance"][-1] == pytest.approx(
        direct.trace_covariance, rel=1e-5
    )
    assert history.history["gradient_noise_scale"][-1] == pytest.approx(
        direct.noise_scale, rel=1e-4
    )
    assert history.history["critical_batch_size"][-1] == pytest.approx(
        direct.critical_batch_size, rel=1e-3
    )


def test_saturation_and_generalization_monitors():
    x, y = data()
    net = model("relu")
    monitors = [SaturationMonitor(x), GeneralizationMonitor((x[:40], y[:40]), (x[40:], y[40:]))]
    history = fit(net, monitors)
    (layer,) = saturation(net, x)
    assert history.history["saturated/dense"][-1] == pytest.approx(layer.saturated_fraction)
    assert history.history["dead/dense"][-1] == pytest.approx(layer.dead_fraction)
    result = generalization(net, None, (x[:40], y[:40]), (x[40:], y[40:]))
    assert history.history["val_set_zero_one_loss"][-1] == pytest.approx(
        result.validation_zero_one_loss
    )
    assert history.history["generalization_gap"][-1] == pytest.approx(result.loss_gap, rel=1e-5)


def test_trajectory_recorder_keeps_the_start_and_each_epoch():
    net = model()
    start = parameter_vector(net)
    recorder = TrajectoryRecorder()
    fit(net, [recorder], epochs=3)
    assert recorder.trajectory.shape == (4, len(start))
    assert recorder.trajectory_steps == [0, 4, 8, 12]
    assert torch.equal(recorder.trajectory[0], start)
    assert torch.equal(recorder.trajectory[-1], parameter_vector(net))
