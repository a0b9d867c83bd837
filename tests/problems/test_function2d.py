"""A test function's domain check, its default settings per optimizer, and the noisy
variant's gradient noise, drawn again here from a generator of the same seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepdescent.problems import (
    FUNCTIONS,
    LEARNING_RATE_FAMILIES,
    get_function,
    noisy,
    optimizer_names,
)


@pytest.mark.parametrize(
    "start",
    [(2.5, 0.0), (0.0, -1.5), (-2.01, 1.0), (math.nan, 0.0), (0.0, math.inf)],
)
def test_a_start_outside_the_domain_is_refused_with_the_domain(start):
    rosenbrock = get_function("rosenbrock")
    domain = r"rosenbrock's domain, x in \[-2.0, 2.0\], y in \[-1.0, 3.0\]"
    with pytest.raises(
        ValueError, match=rf"Invalid start: .* \(expected a point \(x, y\) of {domain}\)"
    ):
        rosenbrock.check_start(start)


@pytest.mark.parametrize("start", [(1.0,), (1.0, 2.0, 3.0), "1,2", None, ("a", 1.0), (True, 1.0)])
def test_a_start_that_is_not_a_point_is_refused(start):
    with pytest.raises(ValueError, match=r"Invalid start: .*expected a point"):
        get_function("booth").check_start(start)


def test_a_start_on_the_border_is_inside():
    assert get_function("rosenbrock").check_start([-2, 3]) == (-2.0, 3.0)


def test_settings_give_the_family_rate_and_the_shared_two_dimensional_settings():
    quadratic = get_function("quadratic")
    assert quadratic.settings("sgd") == {"lr": quadratic.learning_rates["gradient"]}
    assert quadratic.settings("nesterov") == {"lr": quadratic.learning_rates["gradient"]}
    assert quadratic.settings("adam") == {"lr": quadratic.learning_rates["adaptive"]}
    assert quadratic.settings("adagrad") == {"lr": quadratic.learning_rates["accumulating"]}
    assert quadratic.settings("lbfgs") == {"max_iter": 1}
    assert quadratic.settings("hessian_free") == {"max_cg_iter": 2}
    assert quadratic.settings("newton") == {}
    assert quadratic.settings("an_optimizer_added_later") == {}


def test_an_optimizer_named_on_its_own_wins_over_its_family():
    rosenbrock = get_function("rosenbrock")
    assert rosenbrock.settings("radam") == {"lr": rosenbrock.learning_rates["radam"]}
    assert rosenbrock.settings("radam") != {"lr": rosenbrock.learning_rates["adaptive"]}


def test_every_family_member_is_an_optimizer_name_and_every_function_has_every_family():
    names = set(optimizer_names())
    for members in LEARNING_RATE_FAMILIES.values():
        assert set(members) <= names
    for function in FUNCTIONS.values():
        assert set(LEARNING_RATE_FAMILIES) <= set(function.learning_rates)
        assert set(function.learning_rates) <= set(LEARNING_RATE_FAMILIES) | names


def test_the_exact_objective_is_the_function():
    himmelblau = get_function("himmelblau")
    assert himmelblau.objective() is himmelblau


def test_noisy_gradients_add_seeded_gaussian_draws_and_leave_the_value_exact():
    sigma, seed = 0.7, 3
    function = noisy(get_function("rosenbrock"), sigma, seed)
    assert function.name == "noisy_rosenbrock"
    draws = torch.Generator().manual_seed(seed)
    objective = function.objective()
    for point in [(-1.0, 2.0), (0.5, 0.5), (1.0, 1.0)]:
        theta = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        loss = objective(theta)
        loss.backward()
        xi = torch.randn(2, generator=draws, dtype=torch.float64) * sigma
        assert float(loss.detach()) == float(get_function("rosenbrock")(theta.detach()))
        exact = np.array(function.gradient(point))
        np.testing.assert_allclose(theta.grad.numpy(), exact + xi.numpy(), rtol=1e-12, atol=1e-12)
        assert not np.allclose(theta.grad.numpy(), exact)


def test_each_objective_starts_the_noise_afresh():
    function = noisy(get_function("booth"), 1.0, seed=5)

    def first_gradient():
        theta = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
        function.objective()(theta).backward()
        return theta.grad

    assert torch.equal(first_gradient(), first_gradient())


def test_noisy_checks_its_arguments():
    with pytest.raises(ValueError, match="Invalid std: -1"):
        noisy(get_function("booth"), -1.0)
    with pytest.raises(ValueError, match=r"Invalid seed: 1\.5"):
        noisy(get_function("booth"), 1.0, seed=1.5)
    twice = noisy(noisy(get_function("booth"), 1.0), 2.0)
    assert (twice.name, twice.gradient_noise) == ("noisy_booth", 2.0)
