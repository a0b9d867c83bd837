"""The recorded paths are the optimizers' iterates: first-order methods against the
book's algorithms transcribed in NumPy (tests/reference/chapter8.py) with gradients
written by hand, closure methods against a plain loop of ``step(closure)``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import chapter8
from reference.functions2d import REFERENCE

from deepdescent import optimizers
from deepdescent.problems import (
    get_function,
    noisy,
    optimizer_names,
    record_trajectories,
    record_trajectory,
    trajectory,
)


def _gradient(name):
    return lambda theta: np.array(REFERENCE[name](*theta)[1])


def _start(name):
    return np.array(get_function(name).start)


def test_sgd_is_algorithm_8_1():
    path = record_trajectory(get_function("quadratic"), "sgd", 40, settings={"lr": 0.05})
    book = chapter8.sgd(_start("quadratic"), _gradient("quadratic"), lambda k: 0.05, 40)
    np.testing.assert_allclose(path.points, np.array(book), rtol=1e-12, atol=1e-14)
    assert path.steps == 40 and path.diverged_at is None
    assert path.settings == {"lr": 0.05}


def test_momentum_is_algorithm_8_2_with_alpha_0_9():
    path = record_trajectory(get_function("rosenbrock"), "momentum", 60)
    lr = get_function("rosenbrock").settings("momentum")["lr"]
    book = chapter8.momentum(_start("rosenbrock"), _gradient("rosenbrock"), lr, 0.9, 60)
    np.testing.assert_allclose(path.points, np.array(book), rtol=1e-10, atol=1e-12)


def test_nesterov_is_algorithm_8_3_recorded_at_the_look_ahead_point():
    # deepdescent's Nesterov SGD keeps θ̃ = θ + αv, where Algorithm 8.3 takes the gradient.
    path = record_trajectory(get_function("booth"), "nesterov", 50, settings={"lr": 0.02})
    book, velocities = chapter8.nesterov(_start("booth"), _gradient("booth"), 0.02, 0.9, 50)
    expected = np.array(book) + 0.9 * np.array(velocities)
    np.testing.assert_allclose(path.points, expected, rtol=1e-10, atol=1e-12)


def test_values_are_the_exact_function_at_each_iterate():
    path = record_trajectory(noisy(get_function("beale"), 2.0), "adam", 15)
    expected = [REFERENCE["beale"](*point)[0] for point in path.points]
    np.testing.assert_allclose(path.values, expected, rtol=1e-12)


def test_noisy_sgd_follows_the_seeded_draws_and_every_optimizer_meets_the_same_draws():
    sigma, seed, lr, steps = 0.5, 7, 0.05, 25
    function = noisy(get_function("quadratic"), sigma, seed)
    sgd, momentum = record_trajectories(
        function, ["sgd", "momentum"], steps, settings={"sgd": {"lr": lr}, "momentum": {"lr": lr}}
    )
    exact = _gradient("quadratic")

    def draws():
        generator = torch.Generator().manual_seed(seed)
        return lambda: torch.randn(2, generator=generator, dtype=torch.float64).numpy() * sigma

    for path, alpha in ((sgd, 0.0), (momentum, 0.9)):
        noise = draws()
        book = chapter8.momentum(
            _start("quadratic"), lambda t, noise=noise: exact(t) + noise(), lr, alpha, steps
        )
        np.testing.assert_allclose(path.points, np.array(book), rtol=1e-10, atol=1e-12)
    clean = record_trajectory(get_function("quadratic"), "sgd", steps, settings={"lr": lr})
    assert not np.allclose(sgd.points, clean.points)


def test_closure_methods_are_recorded_by_their_accepted_iterates_only():
    function, steps = get_function("rosenbrock"), 12
    path = record_trajectory(function, "lbfgs", steps)
    theta = torch.tensor(function.start, dtype=torch.float64, requires_grad=True)
    lbfgs = optimizers.LBFGS([theta], max_iter=1)
    evaluations, accepted = 0, [theta.detach().clone()]

    def closure():
        nonlocal evaluations
        evaluations += 1
        lbfgs.zero_grad()
        loss = function(theta)
        loss.backward()
        return loss

    for _ in range(steps):
        lbfgs.step(closure)
        accepted.append(theta.detach().clone())
    np.testing.assert_array_equal(path.points, torch.stack(accepted).numpy())
    assert evaluations > steps + 1  # the line search tried points that were not kept
    assert np.all(np.diff(path.values) <= 0)  # each accepted step decreased f (Armijo)


def test_newton_reaches_the_quadratics_minimum_in_one_step():
    path = record_trajectory(get_function("quadratic"), "newton", 3)
    np.testing.assert_allclose(path.points[1:], 0.0, atol=1e-12)


class _CyclicCoordinateDescent(torch.optim.Optimizer):
    """A gradient step on one coordinate per step, x then y (a stand-in for the
    strategies issue's coordinate descent)."""

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})
        self.count = 0

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                p[self.count % 2] -= group["lr"] * p.grad[self.count % 2]
        self.count += 1
        return loss


def test_a_method_that_moves_one_coordinate_per_step_is_drawn_axis_by_axis(monkeypatch):
    table = {**trajectory._catalogue(), "coordinate_descent": _CyclicCoordinateDescent}
    monkeypatch.setattr(trajectory, "_catalogue", lambda: table)
    path = record_trajectory(get_function("booth"), "coordinate_descent", 6, settings={"lr": 0.05})
    theta, expected = _start("booth"), [_start("booth")]
    for k in range(6):
        theta = theta.copy()
        theta[k % 2] -= 0.05 * _gradient("booth")(theta)[k % 2]
        expected.append(theta)
    np.testing.assert_allclose(path.points, np.array(expected), rtol=1e-12)
    moved = np.diff(path.points, axis=0) != 0
    assert moved.tolist() == [[True, False], [False, True]] * 3


def test_a_diverging_optimizer_stops_at_its_last_finite_iterate():
    path = record_trajectory(get_function("rosenbrock"), "sgd", 100, settings={"lr": 0.1})
    assert path.diverged_at is not None and path.steps == path.diverged_at - 1
    assert np.isfinite(path.points).all() and np.isfinite(path.values).all()
    book = chapter8.sgd(_start("rosenbrock"), _gradient("rosenbrock"), lambda k: 0.1, path.steps)
    np.testing.assert_allclose(path.points, np.array(book), rtol=1e-10)


@pytest.mark.filterwarnings("ignore:LBFGS. the line search failed")  # noise misleads it
def test_optimizers_run_together_as_they_run_alone_from_the_same_start():
    function = noisy(get_function("himmelblau"), 1.0, seed=2)
    together = record_trajectories(function, ["adam", "sgd", "lbfgs"], 10, start=(0.5, -1.0))
    for path in together:
        alone = record_trajectory(function, path.optimizer, 10, start=(0.5, -1.0))
        np.testing.assert_array_equal(path.points, alone.points)
        np.testing.assert_array_equal(path.points[0], [0.5, -1.0])


def test_names_are_matched_as_compile_matches_them_and_recorded_as_the_catalogue_spells_them():
    (path,) = record_trajectories(get_function("booth"), ["L-BFGS"], 2, start=np.array([0, 0]))
    assert path.optimizer == "lbfgs" and path.settings == {"max_iter": 1}


def test_user_settings_are_added_to_the_functions_defaults():
    (path,) = record_trajectories(
        get_function("quadratic"), ["lbfgs"], 2, settings={"lbfgs": {"history_size": 3}}
    )
    assert path.settings == {"max_iter": 1, "history_size": 3}


@pytest.mark.parametrize(
    ("name", "steps"),
    [
        ("quadratic", 40),
        ("rosenbrock", 40),
        ("beale", 40),
        ("booth", 40),
        ("himmelblau", 40),
        ("rastrigin", 40),
    ],
)
def test_the_default_settings_of_each_family_go_down_without_diverging(name, steps):
    family = ["sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "lbfgs", "cg"]
    for path in record_trajectories(get_function(name), family, steps):
        assert path.diverged_at is None, path.optimizer
        assert path.values[-1] < path.values[0], path.optimizer


def test_every_optimizer_of_the_catalogue_runs_on_the_quadratic_with_its_defaults():
    for path in record_trajectories(get_function("quadratic"), optimizer_names(), 10):
        assert path.steps == 10 and path.diverged_at is None, path.optimizer
        assert path.values[-1] < path.values[0], path.optimizer


def test_momentum_and_nesterov_are_names_of_their_own():
    assert {"momentum", "nesterov", "sgd", "lbfgs", "newton"} <= set(optimizer_names())
    assert optimizer_names() == sorted(optimizer_names())


def _refuse_to_build(*args, **kwargs):
    raise AssertionError("an optimizer was built before the arguments were checked")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, r"Invalid steps: 0"),
        ({"optimizers": []}, r"Invalid optimizers: \[\] \(expected at least one"),
        ({"optimizers": ["sgd", "sgd"]}, r"Invalid optimizers: .*each name once"),
        ({"start": (9.0, 0.0)}, r"Invalid start: \(9.0, 0.0\) .*rosenbrock's domain"),
        ({"settings": {"lion": {"lr": 1.0}}}, r"Invalid settings: \['lion'\] .*\['sgd', 'adam'\]"),
        ({"settings": {"adma": {"lr": 1.0}}}, r"Unknown optimizer 'adma'.*Valid names: "),
        ({"optimizers": ["adam", "Adam"]}, r"Invalid optimizers: .*each name once"),
        ({"optimizers": ["sgd", "adamm"]}, r"Unknown optimizer 'adamm'.*Valid names: .*nesterov"),
    ],
)
def test_bad_arguments_are_refused_before_any_step(monkeypatch, kwargs, message):
    monkeypatch.setattr(trajectory, "_run", _refuse_to_build)
    arguments = {"optimizers": ["sgd", "adam"], "steps": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        record_trajectories(get_function("rosenbrock"), **arguments)


def test_bad_hyperparameters_name_the_optimizer(monkeypatch):
    monkeypatch.setattr(trajectory, "_run", _refuse_to_build)
    function = get_function("booth")
    with pytest.raises(ValueError, match=r"Invalid settings for optimizer 'adam': .*'betas1'"):
        record_trajectories(function, ["sgd", "adam"], 5, settings={"adam": {"betas1": 0.9}})
    with pytest.raises(ValueError, match=r"Invalid momentum: 1.5"):
        record_trajectories(function, ["sgd", "adam"], 5, settings={"sgd": {"momentum": 1.5}})
