"""The 2-D functions as training problems: ``fit`` takes one step per training sample,
the steps of NumPy gradient descent on the hand-written gradient, and the validation loss
is f at the current point."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference.functions2d import REFERENCE

from deepdescent.optimizers import SGD
from deepdescent.problems import DataSource, get_function, get_problem, noisy
from deepdescent.problems.function_problem import STEPS_PER_EPOCH, function_problem
from deepdescent.utils import set_random_seed


@pytest.mark.parametrize(("name", "lr"), [("rosenbrock", 1e-3), ("beale", 3e-3), ("booth", 0.05)])
def test_an_epoch_of_fit_is_steps_of_gradient_descent(name, lr):
    problem = get_problem(name)
    splits = problem.load(DataSource())
    model = problem.build()
    model.compile(optimizer=SGD(learning_rate=lr), loss=problem.loss)
    model.fit(splits.x_train, splits.y_train, batch_size=1, epochs=2, verbose=0)
    point = np.array(get_function(name).start)
    for _ in range(2 * STEPS_PER_EPOCH):
        point = point - lr * np.array(REFERENCE[name](*point)[1])
    theta = model.module.theta.detach().numpy()
    np.testing.assert_allclose(theta, point, rtol=1e-10)
    loss = model.evaluate(splits.x_val, splits.y_val, verbose=0)
    assert loss == pytest.approx(REFERENCE[name](*theta)[0], rel=1e-12)


def test_targets_are_near_the_minimum_or_off_the_saddle():
    assert get_problem("rosenbrock").target.value == pytest.approx(0.01)
    assert str(get_problem("saddle").target) == "val_loss ≤ -1"
    assert get_problem("booth").setting("adam").hyperparameters == {"lr": 0.2}
    assert get_problem("booth").setting("lbfgs").hyperparameters == {"max_iter": 1}
    assert get_problem("booth").setting("sgd").batch_size == 1


def test_a_noisy_function_draws_its_noise_from_the_seed():
    problem = function_problem(noisy(get_function("booth"), std=1.0))

    def gradient(seed):
        set_random_seed(seed)
        model = problem.build()
        model(torch.zeros(1, 1)).sum().backward()
        return model.module.theta.grad.numpy()

    exact = np.array(get_function("booth").gradient(get_function("booth").start))
    np.testing.assert_array_equal(gradient(4), gradient(4))
    assert not np.allclose(gradient(4), gradient(5))
    assert not np.allclose(gradient(4), exact)
