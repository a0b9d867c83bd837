"""Hessian eigenpairs, trace and density against numpy.linalg.eigvalsh of exact Hessians."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diagnostics._problems import (
    Quadratic,
    classification_batch,
    exact_hessian_of,
    mean_of_outputs,
    quadratic_batch,
    tanh_net,
)

from deepdescent.diagnostics import (
    hessian_eigenvalues,
    hessian_spectral_density,
    hessian_summary,
    hessian_trace,
)

RTOL = 1e-4
rng = np.random.default_rng(3)
# Spectra that break the naive methods: the top two 1% apart; a negative eigenvalue larger
# in magnitude than the top one (plain power iteration returns it as "the top"); a saddle.
SPECTRA = {
    "close_top_two": [50.0, 49.5, *rng.uniform(-5.0, 20.0, 28)],
    "negative_dominates": [50.0, -80.0, *rng.uniform(-30.0, 30.0, 28)],
    "saddle_x2_minus_y2": [2.0, -2.0],
}
METHODS = ["lanczos", "power", "exact"]


def _tanh_problem():
    net = tanh_net()
    x, y = classification_batch()
    loss = torch.nn.CrossEntropyLoss()
    return net, loss, x, y, np.linalg.eigvalsh(exact_hessian_of(net, loss, x, y))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("spectrum", SPECTRA)
def test_extreme_eigenvalues_of_prescribed_spectra(spectrum, method):
    model = Quadratic(SPECTRA[spectrum])
    x, y = quadratic_batch()
    exact = np.sort(SPECTRA[spectrum])
    k = min(2, len(exact))
    options = {"max_steps": 20000} if method == "power" else {}
    for which, expected in (("largest", exact[::-1][:k]), ("smallest", exact[:k])):
        pairs = hessian_eigenvalues(
            model, mean_of_outputs, x, y, k=k, which=which, method=method, **options
        )
        np.testing.assert_allclose(pairs.values.numpy(), expected, rtol=RTOL)
        assert pairs.converged and pairs.method == method
        for value, vector in zip(pairs.values.numpy(), pairs.vectors.numpy(), strict=True):
            np.testing.assert_allclose(
                model.matrix @ vector, value * vector, atol=1e-3 * abs(exact).max()
            )
            assert np.linalg.norm(vector) == pytest.approx(1.0)


def test_saddle_directions_are_the_axes_of_the_saddle():
    """x² − y² in rotated coordinates: the eigenvectors are the rotated axes."""
    model = Quadratic([2.0, -2.0], seed=5)
    x, y = quadratic_batch()
    q = np.linalg.eigh(model.matrix)[1]
    for which, column in (("largest", 1), ("smallest", 0)):
        pairs = hessian_eigenvalues(model, mean_of_outputs, x, y, which=which)
        assert abs(abs(float(pairs.vectors[0].numpy() @ q[:, column])) - 1.0) < 1e-8


@pytest.mark.parametrize("method", METHODS)
def test_tanh_network_ends_of_the_spectrum(method):
    net, loss, x, y, exact = _tanh_problem()
    options = {"max_steps": 20000, "tol": 1e-7} if method == "power" else {}
    top = hessian_eigenvalues(net, loss, x, y, k=3, method=method, **options)
    bottom = hessian_eigenvalues(net, loss, x, y, k=1, which="smallest", method=method, **options)
    np.testing.assert_allclose(top.values.numpy(), exact[::-1][:3], rtol=RTOL)
    np.testing.assert_allclose(bottom.values.numpy(), exact[:1], rtol=RTOL)
    assert exact[0] < 0  # the network sits near a saddle: the test needs a negative end


def test_lanczos_uses_far_fewer_products_than_power_iteration():
    model = Quadratic(SPECTRA["close_top_two"])
    x, y = quadratic_batch()
    lanczos = hessian_eigenvalues(model, mean_of_outputs, x, y)
    power = hessian_eigenvalues(model, mean_of_outputs, x, y, method="power", max_steps=20000)
    assert lanczos.products <= 32 and power.products > 10 * lanczos.products


def test_not_converging_warns():
    model = Quadratic(SPECTRA["close_top_two"])
    x, y = quadratic_batch()
    with pytest.warns(RuntimeWarning, match="did not reach tol"):
        pairs = hessian_eigenvalues(model, mean_of_outputs, x, y, method="power", max_steps=5)
    assert not pairs.converged


def test_a_model_too_large_for_the_exact_method_falls_back_and_says_so():
    net, loss, x, y, exact = _tanh_problem()
    with pytest.warns(UserWarning, match="exceed exact_limit=10; using 'lanczos'"):
        pairs = hessian_eigenvalues(net, loss, x, y, method="exact", exact_limit=10)
    assert pairs.method == "lanczos"
    np.testing.assert_allclose(pairs.values.numpy(), exact[-1:], rtol=RTOL)
    with pytest.warns(UserWarning, match="using 'hutchinson'"):
        assert hessian_trace(net, loss, x, y, method="exact", exact_limit=10).method == "hutchinson"


# -- trace ------------------------------------------------------------------------------


def _hutchinson_sigma(hessian: np.ndarray, num_probes: int) -> float:
    """The standard deviation of the mean of N Rademacher probes' zᵀHz."""
    return math.sqrt(2 * ((hessian**2).sum() - (np.diag(hessian) ** 2).sum()) / num_probes)


def test_hutchinson_within_four_sigma_and_reports_its_spread():
    net = tanh_net()
    x, y = classification_batch()
    loss = torch.nn.CrossEntropyLoss()
    hessian = exact_hessian_of(net, loss, x, y)
    sigma = _hutchinson_sigma(hessian, 400)
    estimate = hessian_trace(net, loss, x, y, num_probes=400, seed=7)
    assert abs(estimate.value - np.trace(hessian)) <= 4 * sigma
    assert 0.7 * sigma <= estimate.standard_error <= 1.3 * sigma
    assert hessian_trace(net, loss, x, y, method="exact").value == pytest.approx(
        np.trace(hessian), rel=1e-10
    )


def test_hutchinson_is_unbiased_over_seeds():
    model = Quadratic(SPECTRA["negative_dominates"])
    x, y = quadratic_batch()
    seeds, probes = 300, 4
    estimates = [
        hessian_trace(model, mean_of_outputs, x, y, num_probes=probes, seed=s).value
        for s in range(seeds)
    ]
    sigma = _hutchinson_sigma(model.matrix, probes * seeds)
    assert abs(np.mean(estimates) - np.trace(model.matrix)) <= 4 * sigma
    assert np.std(estimates) == pytest.approx(_hutchinson_sigma(model.matrix, probes), rel=0.15)


# -- density ----------------------------------------------------------------------------


def test_density_integrates_to_one_and_estimates_the_negative_count():
    net, loss, x, y, exact = _tanh_problem()
    density = hessian_spectral_density(net, loss, x, y, steps=20, num_vectors=8)
    t, phi = density.grid(points=4000)
    assert np.trapezoid(phi, t) == pytest.approx(1.0, abs=1e-3)
    for weights in density.weights:
        assert float(weights.sum()) == pytest.approx(1.0, abs=1e-12) and bool((weights >= 0).all())
    negative = density.fraction_below(-1e-3) * density.dimension
    assert abs(negative - (exact < -1e-3).sum()) <= 0.2 * len(exact)


def test_density_with_as_many_steps_as_parameters_is_exact():
    spectrum = np.linspace(-3.0, 7.0, 12)
    model = Quadratic(spectrum)
    x, y = quadratic_batch()
    density = hessian_spectral_density(model, mean_of_outputs, x, y, steps=12, num_vectors=3)
    for nodes in density.nodes:
        np.testing.assert_allclose(np.sort(nodes.numpy()), spectrum, atol=1e-9)
    exact = hessian_spectral_density(model, mean_of_outputs, x, y, method="exact")
    np.testing.assert_allclose(exact.nodes[0].numpy(), spectrum, atol=1e-12)
    assert exact.fraction_below(0.0) == pytest.approx(np.mean(spectrum < 0))


# -- summary ----------------------------------------------------------------------------


def test_summary_exact_and_estimated_agree_with_eigvalsh():
    net, loss, x, y, exact = _tanh_problem()
    summary = hessian_summary(net, loss, x, y)
    assert summary.method == "exact"
    np.testing.assert_allclose(summary.top.values.numpy(), exact[::-1][:3], rtol=1e-10)
    assert float(summary.bottom.values[0]) == pytest.approx(exact[0], rel=1e-10)
    threshold = summary.negative_threshold
    assert summary.negative_count == (exact < -threshold).sum()
    assert summary.condition_number is None  # indefinite
    estimated = hessian_summary(net, loss, x, y, method="lanczos", num_probes=200)
    np.testing.assert_allclose(estimated.top.values.numpy(), exact[::-1][:3], rtol=RTOL)
    assert float(estimated.bottom.values[0]) == pytest.approx(exact[0], rel=RTOL)


def test_condition_number_of_a_positive_definite_hessian():
    model = Quadratic([10.0, 4.0, 2.0, 0.5])
    summary = hessian_summary(model, mean_of_outputs, *quadratic_batch())
    assert summary.condition_number == pytest.approx(20.0)
    assert summary.negative_count == 0


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"k": 0}, "Invalid k: 0"),
        ({"k": 5}, r"Invalid k: 5 \(expected an int in \[1, 4\]\)"),
        ({"which": "biggest"}, "Invalid which: 'biggest'"),
        ({"method": "arnoldi"}, "Invalid method: 'arnoldi'"),
        ({"tol": -1.0}, "Invalid tol"),
        ({"seed": -1}, "Invalid seed"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    model = Quadratic([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match=message):
        hessian_eigenvalues(model, mean_of_outputs, *quadratic_batch(), **arguments)


class _PerExampleLoss(torch.nn.Module):
    def forward(self, outputs, targets):
        return torch.nn.functional.cross_entropy(outputs, targets, reduction="none")


@pytest.mark.parametrize(
    "loss",
    [
        torch.nn.CrossEntropyLoss(reduction="none"),
        "sparse_categorical_crossentropy_none",
        _PerExampleLoss(),
    ],
)
def test_a_loss_that_is_not_scalar_is_refused(loss):
    from deepdescent.losses import SparseCategoricalCrossentropy

    if loss == "sparse_categorical_crossentropy_none":
        loss = SparseCategoricalCrossentropy(from_logits=True, reduction="none")
    with pytest.raises(ValueError, match="Invalid loss_fn"):
        hessian_trace(tanh_net(), loss, *classification_batch())
