"""The 2-D test functions against their formulas and gradients written out by hand in
NumPy, and their known minima and saddle points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from reference.functions2d import KAPPA, REFERENCE, C, S

from deepdescent.problems import FUNCTIONS, get_function

NAMES = sorted(REFERENCE)


def _points_in(function, count=12, seed=0):
    (x_min, x_max), (y_min, y_max) = function.bounds
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(x_min, x_max, count), rng.uniform(y_min, y_max, count)])


def test_every_function_has_a_reference():
    assert sorted(FUNCTIONS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_value_and_autograd_gradient_match_the_formula(name):
    function, reference = get_function(name), REFERENCE[name]
    for x, y in _points_in(function):
        value, grad = reference(x, y)
        theta = torch.tensor([x, y], dtype=torch.float64)
        assert float(function(theta)) == pytest.approx(value, rel=1e-12, abs=1e-12)
        assert function.gradient((x, y)) == pytest.approx(grad, rel=1e-10, abs=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_values_on_a_grid_are_element_wise(name):
    function = get_function(name)
    points = _points_in(function, count=6).reshape(2, 3, 2)
    values = function(torch.from_numpy(points)).numpy()
    expected = REFERENCE[name](points[..., 0], points[..., 1])[0]
    assert values.shape == (2, 3)
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_known_minima_are_stationary_minima_with_the_known_value(name):
    function, reference = get_function(name), REFERENCE[name]
    for x, y in function.minima:
        value, grad = reference(x, y)
        assert value == pytest.approx(function.minimum, abs=1e-12)
        assert np.abs(grad).max() < 1e-9
        for angle in np.linspace(0, 2 * np.pi, 8, endpoint=False):
            nearby = reference(x + 1e-3 * np.cos(angle), y + 1e-3 * np.sin(angle))[0]
            assert nearby > value


@pytest.mark.parametrize("name", NAMES)
def test_start_and_critical_points_lie_in_the_domain(name):
    function = get_function(name)
    (x_min, x_max), (y_min, y_max) = function.bounds
    for x, y in (function.start, *function.minima, *function.saddles):
        assert x_min <= x <= x_max and y_min <= y <= y_max
    assert function.minima or function.saddles


@pytest.mark.parametrize(
    ("name", "downhill"),
    [
        # x² − y²: up along x, down along y.
        ("saddle", [(0.0, 1.0), (0.0, -1.0)]),
        # x³ − 3xy² = r³ cos 3φ: three valleys, at φ = 60°, 180° and 300°.
        ("monkey_saddle", [(math.cos(a), math.sin(a)) for a in np.radians([60, 180, 300])]),
    ],
)
def test_saddles_are_stationary_with_ways_down(name, downhill):
    function, reference = get_function(name), REFERENCE[name]
    assert function.minimum is None and function.minima == ()
    (point,) = function.saddles
    value, grad = reference(*point)
    assert value == 0.0 and np.abs(grad).max() == 0.0
    for dx, dy in downhill:
        assert reference(point[0] + 1e-2 * dx, point[1] + 1e-2 * dy)[0] < value
    assert reference(point[0] + 1e-2, point[1])[0] > value


def test_the_quadratic_is_ill_conditioned_along_turned_axes():
    function = get_function("quadratic")
    theta = torch.zeros(2, dtype=torch.float64)
    hessian = torch.autograd.functional.hessian(function, theta).numpy()
    eigenvalues, vectors = np.linalg.eigh(hessian)
    np.testing.assert_allclose(eigenvalues, [1.0, KAPPA], rtol=1e-12)
    np.testing.assert_allclose(np.abs(vectors[:, 0]), [C, S], rtol=1e-12)


def test_unknown_function_names_list_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"Unknown function 'rosenbrok'.*rosenbrock.*Valid names: "
    ):
        get_function("rosenbrok")
    with pytest.raises(ValueError, match="beale, booth, himmelblau, monkey_saddle"):
        get_function("nope")
