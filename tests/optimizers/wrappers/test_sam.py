"""SAM and ASAM against NumPy transcriptions of Foret et al. (2021) and Kwon et al. (2021)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from optimizers._harness import BODIES_AND_FUSED, STEPS, assert_follows, chapter8_problems, iterates
from reference import chapter8
from reference import sam as paper

from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers import SGD
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.optimizers.wrappers.lookahead import Lookahead
from deepdescent.optimizers.wrappers.sam import SAM
from deepdescent.utils import set_random_seed, to_categorical


@pytest.mark.parametrize("impl", BODIES_AND_FUSED)
# Near a stationary point g/‖g‖ magnifies rounding; with ρ = 0.3 the tiny network gets
# there within 100 steps and the two float64 paths part at 1e-10 by the last one.
@pytest.mark.parametrize("rho", [0.05, 0.2])
@pytest.mark.parametrize(("f", "theta0", "lr"), chapter8_problems())
def test_algorithm_1_around_sgd(f, theta0, lr, rho, impl):
    reference = paper.sam_sgd(theta0, lambda t: f(t)[1], lr, rho, STEPS)
    assert_follows(
        iterates(
            closure=True,
            f=f,
            theta0=theta0,
            make_optimizer=lambda p: SAM(SGD(p, lr=lr, **impl), rho=rho),
        ),
        reference,
    )
    assert f(reference[-1])[0] < 0.75 * f(theta0)[0]


@pytest.mark.parametrize("eta", [0.01, 0.0])
@pytest.mark.parametrize(("f", "theta0", "lr"), chapter8_problems())
def test_asam_algorithm_1_around_sgd(f, theta0, lr, eta):
    reference = paper.sam_sgd(theta0, lambda t: f(t)[1], lr, 0.5, STEPS, adaptive=True, eta=eta)
    ours = iterates(
        closure=True,
        f=f,
        theta0=theta0,
        make_optimizer=lambda p: SAM(SGD(p, lr=lr), rho=0.5, adaptive=True, eta=eta),
    )
    assert_follows(ours, reference)


def test_the_norm_is_global_over_all_parameters():
    """Two tensors: ε̂ is ρ g/‖g‖ with ‖g‖ over both (the same as one tensor holding both)."""
    f, theta0 = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    reference = paper.sam_sgd(theta0, lambda t: f(t)[1], 0.009, 0.2, 20)
    a = torch.tensor(theta0[:2], requires_grad=True)
    b = torch.tensor(theta0[2:], requires_grad=True)
    optimizer = SAM(SGD([a, b], lr=0.009), rho=0.2)

    def closure():
        value, grad = f(torch.cat([a, b]).detach().numpy())
        a.grad, b.grad = torch.from_numpy(grad[:2].copy()), torch.from_numpy(grad[2:].copy())
        return torch.tensor(value)

    for _ in range(20):
        optimizer.step(closure)
    assert_follows(np.array([torch.cat([a, b]).detach().numpy()]), [reference[-1]])


def test_a_zero_gradient_gives_no_perturbation():
    x = torch.zeros(3, requires_grad=True)
    optimizer = SAM(SGD([x], lr=0.1))

    def closure():
        optimizer.zero_grad()
        value = (x**2).sum()
        value.backward()
        return value

    optimizer.step(closure)
    assert torch.equal(x.detach(), torch.zeros(3))


def test_returns_the_loss_at_theta_and_comes_back_exactly():
    x = torch.tensor([0.3, -1.7, 2.9], requires_grad=True)
    optimizer = SAM(SGD([x], lr=0.0), rho=0.5)
    seen = []

    def closure():
        optimizer.zero_grad(set_to_none=False)  # gradients zeroed in place: still right
        value = (x**3).sum()
        value.backward()
        seen.append(x.detach().clone())
        return value

    start = x.detach().clone()
    loss = optimizer.step(closure)
    assert loss == (start**3).sum() and torch.equal(x.detach(), start)
    g = 3 * start**2
    torch.testing.assert_close(seen[1], start + 0.5 * g / g.norm())


def test_needs_a_closure_and_refuses_a_base_that_needs_one():
    x = torch.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="closure"):
        SAM(SGD([x])).step()

    class LineSearch(SGD):
        training_needs = TrainingNeeds(closure=True)

    with pytest.raises(ValueError, match="Invalid base_optimizer"):
        SAM(LineSearch([x]))


def _rosenbrock_closure(optimizer, x):
    def closure():
        optimizer.zero_grad()
        value = ((1 - x[:-1]) ** 2 + 10.0 * (x[1:] - x[:-1] ** 2) ** 2).sum()
        value.backward()
        return value

    return closure


def test_state_dict_round_trip_continues_identically():
    x = torch.linspace(-1, 1, 10, dtype=torch.float64, requires_grad=True)
    optimizer = SAM(SGD([x], lr=0.003, momentum=0.9), rho=0.1)
    for _ in range(5):
        optimizer.step(_rosenbrock_closure(optimizer, x))
    state = copy.deepcopy(optimizer.state_dict())
    assert state["iterations"] == 5 and "momentum_buffer" in state["state"][0]
    twin = x.detach().clone().requires_grad_()
    resumed = SAM(SGD([twin], lr=0.003, momentum=0.9), rho=0.1)
    resumed.load_state_dict(state)
    for _ in range(6):
        optimizer.step(_rosenbrock_closure(optimizer, x))
        resumed.step(_rosenbrock_closure(resumed, twin))
    torch.testing.assert_close(twin, x, rtol=0, atol=0)


# -- the Keras door ----------------------------------------------------------------------


def _blobs(n=200, d=5, classes=3):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3.0, size=(classes, d))
    labels = rng.integers(0, classes, size=n)
    x = (centers[labels] + rng.normal(size=(n, d))).astype("float32")
    return x, to_categorical(labels, classes)


def _model(optimizer):
    set_random_seed(0)
    model = Sequential([Dense(8, activation="sigmoid", input_shape=(5,)), Dense(3, "softmax")])
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: SAM(SGD(learning_rate=0.1), rho=0.05), id="sam"),
        pytest.param(
            lambda: SAM({"class_name": "SGD", "config": {"lr": 0.1}}, rho=0.5, adaptive=True),
            id="asam-from-config",
        ),
        pytest.param(lambda: Lookahead(SAM(SGD(learning_rate=0.1))), id="lookahead-sam"),
    ],
)
def test_an_unbound_spec_binds_through_compile_and_fit(make):
    spec = make()
    assert not spec.is_bound
    model = _model(spec)
    x, y = _blobs()
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    assert spec.is_bound
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_fit_reports_the_loss_at_theta_not_at_the_perturbed_point():
    x, y = _blobs(n=16)
    model = _model(SAM(SGD(learning_rate=0.1), rho=2.0))
    before = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["loss"]
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    assert history.history["loss"][0] == pytest.approx(before, rel=1e-6)


def test_config_round_trip():
    spec = SAM(SGD(learning_rate=0.05), rho=0.2, adaptive=True, eta=0.02)
    config = spec.get_config()
    assert {k: v for k, v in config.items() if k != "base_optimizer"} == {
        "rho": 0.2,
        "adaptive": True,
        "eta": 0.02,
    }
    assert SAM.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"rho": -0.1}, "rho"), ({"rho": float("nan")}, "rho"), ({"eta": -1.0}, "eta")],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        SAM(SGD(), **kwargs)
