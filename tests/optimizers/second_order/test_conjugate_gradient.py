"""Nonlinear conjugate gradient (Algorithm 8.9) against linear CG (N&W Algorithm 5.2),
SciPy and closed forms."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import scipy.optimize
import torch
from reference import nocedal_wright

from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers.second_order.conjugate_gradient import ConjugateGradient
from deepdescent.training import Trainer
from deepdescent.utils import set_random_seed, to_categorical

BETAS = ["fletcher_reeves", "polak_ribiere"]


def _closure(opt, params, loss_of):
    def closure():
        opt.zero_grad()
        loss = loss_of(*params)
        loss.backward()
        return loss

    return closure


def _spd_problem(n=8, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return q @ np.diag(np.geomspace(1.0, 100.0, n)) @ q.T, rng.normal(size=n), rng.normal(size=n)


def _run_quadratic(a, b, x0, steps, **kwargs):
    at, bt = torch.tensor(a), torch.tensor(b)
    x = torch.tensor(x0, requires_grad=True)
    opt = ConjugateGradient([x], **kwargs)
    closure = _closure(opt, [x], lambda x: 0.5 * x @ at @ x - bt @ x)
    path = [x0.copy()]
    for _ in range(steps):
        opt.step(closure)
        path.append(x.detach().numpy().copy())
    return path, opt


# -- quadratics ------------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", BETAS)
def test_exact_line_search_is_linear_cg_on_a_quadratic(beta):
    """Iterate by iterate the same as N&W Algorithm 5.2, and at the minimum after n steps."""
    a, b, x0 = _spd_problem()
    expected = nocedal_wright.linear_cg(a, b, x0)
    assert len(expected) == 9
    path, _ = _run_quadratic(a, b, x0, 8, beta=beta, line_search="exact_quadratic")
    for ours, theirs in zip(path, expected, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-7)
    np.testing.assert_allclose(path[-1], np.linalg.solve(a, b), rtol=0, atol=1e-8)


@pytest.mark.parametrize("beta", BETAS)
def test_strong_wolfe_search_minimizes_a_quadratic(beta):
    a, b, x0 = _spd_problem()
    path, opt = _run_quadratic(a, b, x0, 20, beta=beta)
    np.testing.assert_allclose(path[-1], np.linalg.solve(a, b), rtol=0, atol=1e-8)
    assert opt.last_line_search is not None


def test_restart_every_step_is_steepest_descent_with_exact_steps():
    """restart=1: every direction is −g and ε* = gᵀg / gᵀAg (Cauchy's method)."""
    a, b, x0 = _spd_problem()
    path, _ = _run_quadratic(a, b, x0, 5, restart=1, line_search="exact_quadratic")
    x = x0
    for ours in path[1:]:
        g = a @ x - b
        x = x - (g @ g) / (g @ a @ g) * g
        np.testing.assert_allclose(ours, x, rtol=0, atol=1e-12)


def test_parameter_groups_form_one_vector():
    """θ split into two groups (same lr) follows the same iterates as one tensor."""
    a, b, x0 = _spd_problem()
    whole, _ = _run_quadratic(a, b, x0, 6)
    at, bt = torch.tensor(a), torch.tensor(b)
    head = torch.tensor(x0[:3], requires_grad=True)
    tail = torch.tensor(x0[3:], requires_grad=True)
    opt = ConjugateGradient([{"params": [head]}, {"params": [tail]}])

    def loss_of(u, v):
        x = torch.cat([u, v])
        return 0.5 * x @ at @ x - bt @ x

    closure = _closure(opt, [head, tail], loss_of)
    for expected in whole[1:]:
        opt.step(closure)
        np.testing.assert_allclose(torch.cat([head, tail]).detach().numpy(), expected, atol=1e-12)


def test_exact_step_needs_positive_curvature():
    w = torch.tensor([0.5, 0.5], dtype=torch.float64, requires_grad=True)
    opt = ConjugateGradient([w], line_search="exact_quadratic")
    with pytest.raises(ValueError, match="positive curvature"):
        opt.step(_closure(opt, [w], lambda w: -(w**2).sum()))


# -- logistic regression and Rosenbrock ------------------------------------------------------------


def _logistic_problem(lam=0.1):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5))
    y = (x @ rng.normal(size=5) + 0.5 * rng.normal(size=120) > 0).astype(float)

    def value(theta):
        z = x @ theta[:5] + theta[5]
        return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * lam * theta[:5] @ theta[:5]

    def grad(theta):
        r = (1 / (1 + np.exp(-(x @ theta[:5] + theta[5]))) - y) / len(y)
        return np.concatenate([x.T @ r + lam * theta[:5], [r.sum()]])

    optimum = scipy.optimize.minimize(
        value, np.zeros(6), jac=grad, method="BFGS", options={"gtol": 1e-12}
    ).x
    return torch.tensor(x), torch.tensor(y), optimum


@pytest.mark.parametrize("beta", BETAS)
def test_logistic_regression_reaches_scipys_optimum(beta):
    """The L2 term is coupled weight decay of the weights' group; the bias has none."""
    x, y, optimum = _logistic_problem()
    w = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = ConjugateGradient([{"params": [w], "weight_decay": 0.1}, {"params": [b]}], beta=beta)
    closure = _closure(
        opt,
        [w, b],
        lambda w, b: torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y),
    )
    for _ in range(60):
        opt.step(closure)
    np.testing.assert_allclose(torch.cat([w, b]).detach().numpy(), optimum, rtol=0, atol=1e-6)


def _rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


@pytest.mark.parametrize("beta", BETAS)
def test_both_betas_converge_on_rosenbrock(beta):
    xy = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = ConjugateGradient([xy], beta=beta)
    closure = _closure(opt, [xy], _rosenbrock)
    values = [opt.step(closure).item() for _ in range(150)]
    np.testing.assert_allclose(xy.detach().numpy(), [1.0, 1.0], atol=1e-6)
    assert all(b <= a for a, b in itertools.pairwise(values))  # line searches only descend


def test_fletcher_reeves_and_polak_ribiere_differ():
    def path(beta):
        xy = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
        opt = ConjugateGradient([xy], beta=beta)
        closure = _closure(opt, [xy], _rosenbrock)
        for _ in range(5):
            opt.step(closure)
        return xy.detach()

    assert not torch.allclose(path("fletcher_reeves"), path("polak_ribiere"))


# -- failures, state, options -------------------------------------------------------------------


def test_a_failed_line_search_leaves_the_parameters_and_restarts():
    a, b, x0 = _spd_problem()
    at, bt = torch.tensor(a), torch.tensor(b)
    x = torch.tensor(x0, requires_grad=True)
    opt = ConjugateGradient([x], lr=1e6, max_evaluations=1)
    opt.step(_closure(opt, [x], lambda x: 0.5 * x @ at @ x - bt @ x))
    assert not opt.last_line_search.success
    np.testing.assert_array_equal(x.detach().numpy(), x0)
    assert "direction" not in opt.state[x]


def test_state_dict_round_trip():
    a, b, x0 = _spd_problem()
    at, bt = torch.tensor(a), torch.tensor(b)
    x = torch.tensor(x0, requires_grad=True)

    def loss_of(x):
        return 0.5 * x @ at @ x - bt @ x + (x**4).sum() / 4

    opt = ConjugateGradient([x])
    closure = _closure(opt, [x], loss_of)
    for _ in range(3):
        opt.step(closure)
    saved, point = copy.deepcopy(opt.state_dict()), x.detach().clone()
    assert {"direction", "previous_grad", "since_restart"} <= set(opt.state[x])
    opt.step(closure)
    expected = x.detach().clone()
    with torch.no_grad():
        x.copy_(point)
    fresh = ConjugateGradient([x])
    fresh.load_state_dict(saved)
    fresh.step(_closure(fresh, [x], loss_of))
    torch.testing.assert_close(x.detach(), expected, rtol=0, atol=0)


def test_clipping_applies_to_the_direction():
    a, b, x0 = _spd_problem()
    at, bt = torch.tensor(a), torch.tensor(b)
    x = torch.tensor(x0, requires_grad=True)
    opt = ConjugateGradient([x], lr=0.5, clipnorm=0.1)
    opt.step(_closure(opt, [x], lambda x: 0.5 * x @ at @ x - bt @ x))
    g = torch.tensor(a @ x0 - b)
    torch.testing.assert_close(opt.state[x]["direction"], -0.5 * 0.1 * g / g.norm())


@pytest.mark.parametrize("optimizer", ["cg", "newton"])
def test_decoupled_weight_decay_shrinks_first(optimizer):
    """With a flat loss (∇J = 0) only the decoupled decay moves θ: θ(1 − ελ)."""
    from deepdescent.optimizers.second_order.newton import Newton

    cls = {"cg": ConjugateGradient, "newton": Newton}[optimizer]
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = cls([w], lr=0.5, weight_decay=0.1, decoupled_weight_decay=True)
    opt.step(_closure(opt, [w], lambda w: (0 * w).sum()))
    torch.testing.assert_close(w.detach(), torch.full((3,), 0.95).double())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": -1.0}, "Invalid lr"),
        ({"beta": "hestenes_stiefel"}, "Unknown beta"),
        ({"line_search": "exact"}, "Unknown line_search"),
        ({"restart": 0}, "Invalid restart"),
        ({"c1": 0.0}, "Invalid c1"),
        ({"c2": 1e-5}, "Invalid c2"),
        ({"max_evaluations": 0}, "Invalid max_evaluations"),
        ({"gradient_accumulation_steps": 3}, "Invalid gradient_accumulation_steps"),
    ],
)
def test_invalid_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConjugateGradient(**kwargs)


def test_names_are_matched_loosely_and_configs_round_trip():
    opt = ConjugateGradient(beta="Fletcher-Reeves", line_search="EXACT_QUADRATIC", restart=5)
    assert opt.get_config()["beta"] == "fletcher_reeves"
    assert ConjugateGradient.from_config(opt.get_config()).get_config() == opt.get_config()


def test_stepping_without_a_closure_or_with_a_bad_one():
    w = torch.ones(2, requires_grad=True)
    opt = ConjugateGradient([w])
    with pytest.raises(RuntimeError, match=r"step\(closure\)"):
        opt.step()
    with pytest.raises(ValueError, match="non-finite loss"):
        opt.step(_closure(opt, [w], lambda w: (w * torch.inf).sum()))
    with pytest.raises(ValueError, match="scalar"):
        opt.step(lambda: w * 1.0)


# -- through Model.fit ---------------------------------------------------------------------------


def _blobs(n=60, d=5, classes=3):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=2.0, size=(classes, d))
    labels = rng.integers(0, classes, size=n)
    x = (centers[labels] + rng.normal(size=(n, d))).astype("float32")
    return x, to_categorical(labels, classes)


@pytest.mark.parametrize("line_search", ["strong_wolfe", "exact_quadratic"])
def test_fit_trains_a_tiny_model(line_search):
    x, y = _blobs()
    set_random_seed(0)
    model = Sequential(
        [Dense(8, activation="tanh", input_shape=(5,)), Dense(3, activation="softmax")]
    )
    optimizer = ConjugateGradient(line_search=line_search)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, verbose=0).history
    losses = history["loss"]
    expected_path = "autograd" if line_search == "exact_quadratic" else "manual"
    assert Trainer(model).gradient_path.name == expected_path
    if line_search == "strong_wolfe":
        assert all(b <= a for a, b in itertools.pairwise(losses))
    assert losses[-1] < 0.1 * losses[0]
    assert history["accuracy"][-1] == 1.0
