"""Newton's method (Algorithm 8.8), damped and saddle-free, against closed forms, SciPy
and torch.func."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import scipy.optimize
import torch
from torch.func import functional_call, hessian

from deepdescent import optimizers
from deepdescent.autodiff import flatten, unflatten
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers.second_order.newton import Newton
from deepdescent.utils import set_random_seed, to_categorical

# -- problems ---------------------------------------------------------------------------------


def _quadratic(n=6, seed=0):
    """f(θ) = ½θᵀAθ − bᵀθ with A SPD; the minimizer is A⁻¹b."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(np.geomspace(0.5, 50.0, n)) @ q.T
    return torch.tensor(a), torch.tensor(rng.normal(size=n)), rng.normal(size=n)


def _closure(opt, params, loss_of):
    def closure():
        opt.zero_grad()
        loss = loss_of(*params)
        loss.backward()
        return loss

    return closure


def _saddle(x, y):
    """x² − y² + y⁴/4: a saddle at 0 (value 0), minima at (0, ±√2) (value −1)."""
    return x**2 - y**2 + y**4 / 4


def _run_saddle(steps=25, start=(1.0, 0.3), **kwargs):
    xy = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = Newton([xy], **kwargs)
    closure = _closure(opt, [xy], lambda p: _saddle(*p))
    values = [opt.step(closure).item() for _ in range(steps)]
    return xy.detach(), [*values, closure().item()]


# -- closed forms -----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{}, {"adapt_damping": False}, {"saddle_free": True}])
def test_one_step_to_the_minimum_of_a_convex_quadratic(kwargs):
    """θ split over two parameter groups: the Hessian is joint, the step exact."""
    a, b, theta0 = _quadratic()
    first = torch.tensor(theta0[:4], requires_grad=True)
    second = torch.tensor(theta0[4:], requires_grad=True)
    opt = Newton([{"params": [first]}, {"params": [second]}], **kwargs)
    opt.step(_closure(opt, [first, second], lambda u, v: _quadratic_value(a, b, u, v)))
    solution = torch.linalg.solve(a, b)
    torch.testing.assert_close(torch.cat([first, second]).detach(), solution, rtol=0, atol=1e-10)
    assert opt.state[first]["damping"] == 0.0


def _quadratic_value(a, b, *parts):
    theta = torch.cat(parts)
    return 0.5 * theta @ a @ theta - b @ theta


def test_lr_takes_a_fraction_of_the_newton_step():
    a, b, theta0 = _quadratic()
    theta = torch.tensor(theta0, requires_grad=True)
    opt = Newton([theta], lr=0.25, adapt_damping=False)
    opt.step(_closure(opt, [theta], lambda t: _quadratic_value(a, b, t)))
    start = torch.tensor(theta0)
    expected = start - 0.25 * torch.linalg.solve(a, a @ start - b)
    torch.testing.assert_close(theta.detach(), expected, rtol=0, atol=1e-12)


def test_damping_solves_the_shifted_system():
    """Δ = −(H + αI)⁻¹g (eq. 8.27) with a fixed α."""
    a, b, theta0 = _quadratic()
    theta = torch.tensor(theta0, requires_grad=True)
    opt = Newton([theta], damping=3.0, adapt_damping=False)
    opt.step(_closure(opt, [theta], lambda t: _quadratic_value(a, b, t)))
    start = torch.tensor(theta0)
    expected = start - torch.linalg.solve(a + 3.0 * torch.eye(6).double(), a @ start - b)
    torch.testing.assert_close(theta.detach(), expected, rtol=0, atol=1e-12)


# -- saddle points (§8.2.3) -------------------------------------------------------------------


def test_plain_newton_walks_to_the_saddle():
    """Algorithm 8.8 rescales the negative-curvature direction by 1/λ < 0: it heads for the
    critical point, here the saddle, where ∇f = 0 and H is indefinite."""
    xy, values = _run_saddle(adapt_damping=False)
    point = xy.clone().requires_grad_()
    grad = torch.autograd.grad(_saddle(*point), point)[0]
    assert grad.abs().max() < 1e-12 and xy.abs().max() < 1e-6
    eigenvalues = torch.linalg.eigvalsh(hessian(lambda p: _saddle(*p))(xy))
    assert eigenvalues.min() < 0 < eigenvalues.max()
    assert values[-1] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("adapt_damping", [True, False])
def test_saddle_free_newton_escapes_the_saddle(adapt_damping):
    xy, values = _run_saddle(saddle_free=True, adapt_damping=adapt_damping)
    assert values[-1] < -0.999  # below the saddle's 0: at a minimum, −1
    torch.testing.assert_close(xy.abs(), torch.tensor([0.0, 2**0.5]).double(), atol=1e-6, rtol=0)


def test_saddle_free_newton_escapes_from_the_saddle_itself():
    """Started on the saddle's stable manifold plus a hair, it still leaves."""
    _, values = _run_saddle(start=(0.5, 1e-6), saddle_free=True, steps=60)
    assert values[-1] < -0.999


def test_damped_newton_never_moves_uphill():
    """The default (adapted damping) rejects steps that raise the loss: on the saddle
    problem it descends monotonically to a minimum instead of the saddle."""
    _, values = _run_saddle()
    assert all(b <= a + 1e-15 for a, b in itertools.pairwise(values))  # to rounding
    assert values[-1] < -0.999


# -- logistic regression against SciPy ----------------------------------------------------------


def _logistic_problem(seed=0, lam=0.1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, 5))
    y = (x @ rng.normal(size=5) + 0.5 * rng.normal(size=120) > 0).astype(float)

    def value(theta):
        w, b = theta[:5], theta[5]
        z = x @ w + b
        return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * lam * w @ w

    def grad(theta):
        w, b = theta[:5], theta[5]
        r = (1 / (1 + np.exp(-(x @ w + b))) - y) / len(y)
        return np.concatenate([x.T @ r + lam * w, [r.sum()]])

    optimum = scipy.optimize.minimize(
        value, np.zeros(6), jac=grad, method="BFGS", options={"gtol": 1e-12}
    ).x
    return torch.tensor(x), torch.tensor(y), lam, optimum


def logistic_fit(optimizer_class, steps, **kwargs):
    """L2-regularized logistic regression: the L2 term on the weights is coupled weight
    decay of their parameter group; the bias is a group of its own without decay."""
    x, y, lam, optimum = _logistic_problem()
    w = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = optimizer_class([{"params": [w], "weight_decay": lam}, {"params": [b]}], **kwargs)

    def loss_of(w, b):
        return torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y)

    closure = _closure(opt, [w, b], loss_of)
    for _ in range(steps):
        opt.step(closure)
    return torch.cat([w, b]).detach().numpy(), optimum


@pytest.mark.parametrize("kwargs", [{}, {"adapt_damping": False}, {"saddle_free": True}])
def test_logistic_regression_reaches_scipys_optimum(kwargs):
    theta, optimum = logistic_fit(Newton, steps=12, **kwargs)
    np.testing.assert_allclose(theta, optimum, rtol=0, atol=1e-6)


# -- state, configuration, errors ---------------------------------------------------------------


def test_state_dict_round_trip_keeps_the_damping():
    """A rough start (far from the quadratic region) makes the adapted α nonzero."""
    xy = torch.tensor([0.2, 0.05], dtype=torch.float64, requires_grad=True)
    opt = Newton([xy], damping=1.0)
    closure = _closure(opt, [xy], lambda p: _saddle(*p))
    opt.step(closure)
    saved, saved_point = copy.deepcopy(opt.state_dict()), xy.detach().clone()
    damping = opt.state[xy]["damping"]
    assert damping not in (0.0, 1.0)
    opt.step(closure)
    after_one = xy.detach().clone()
    with torch.no_grad():
        xy.copy_(saved_point)
    fresh = Newton([xy], damping=1.0)
    fresh.load_state_dict(saved)
    assert fresh.state[xy]["damping"] == damping and fresh.iterations == 1
    fresh.step(_closure(fresh, [xy], lambda p: _saddle(*p)))
    torch.testing.assert_close(xy.detach(), after_one, rtol=0, atol=0)


def test_config_round_trip():
    opt = Newton(lr=0.5, damping=0.1, saddle_free=True, adapt_damping=False, max_params=100)
    rebuilt = Newton.from_config(opt.get_config())
    assert rebuilt.get_config() == opt.get_config()
    assert rebuilt.get_config()["saddle_free"] is True


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -1.0}, "lr"),
        ({"damping": -0.1}, "damping"),
        ({"damping": float("inf")}, "damping"),
        ({"saddle_free": "yes"}, "saddle_free"),
        ({"adapt_damping": 1}, "adapt_damping"),
        ({"max_params": 0}, "max_params"),
        ({"max_params": True}, "max_params"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"gradient_accumulation_steps": 2}, "gradient_accumulation_steps"),
    ],
)
def test_invalid_hyperparameters(kwargs, name):
    with pytest.raises(ValueError, match=f"Invalid {name}"):
        Newton(**kwargs)


def test_a_model_too_large_for_a_dense_hessian():
    params = [torch.zeros(60, 50, requires_grad=True), torch.zeros(50, requires_grad=True)]
    with pytest.raises(ValueError, match=r"3050 elements, more than max_params=3000: use LBFGS"):
        Newton(params, max_params=3000)
    Newton(params)  # 3050 <= 5000


def test_stepping_without_a_closure():
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"step\(closure\)"):
        Newton([w]).step()


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        (lambda w: w * 2.0, r"scalar, got a tensor of shape \(2,\)"),
        (lambda w: (w * torch.nan).sum(), "non-finite loss"),
    ],
)
def test_bad_closures(loss, message):
    w = torch.ones(2, requires_grad=True)
    opt = Newton([w])

    def closure():
        opt.zero_grad()
        value = loss(w)
        value.sum().backward()
        return value

    with pytest.raises(ValueError, match=message):
        opt.step(closure)
    assert torch.equal(w.detach(), torch.ones(2))


def test_a_singular_hessian_without_damping():
    w = torch.ones(2, dtype=torch.float64, requires_grad=True)
    opt = Newton([w], adapt_damping=False)
    with pytest.raises(ValueError, match=r"singular.*damping > 0"):
        opt.step(_closure(opt, [w], lambda w: (w.sum() - 1) ** 2))


# -- through Model.fit --------------------------------------------------------------------------


def _blobs(n=60, d=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(classes, d))
    labels = rng.integers(0, classes, size=n)
    x = (centers[labels] + rng.normal(size=(n, d))).astype("float64")
    return x, to_categorical(labels, classes).astype("float64")


def _small_model(optimizer):
    set_random_seed(0)
    model = Sequential(
        [Dense(4, activation="tanh", input_shape=(5,)), Dense(3, activation="softmax")]
    )
    model.double()
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_takes_the_newton_step_of_the_models_loss():
    """One full-batch epoch = one step θ − (H + αI)⁻¹g, H and g of the model's cost from
    torch.func (α keeps the softmax's shift-invariant directions solvable)."""
    x, y = _blobs()
    model = _small_model(Newton(damping=0.1, adapt_damping=False))
    names = [name for name, _ in model.named_parameters()]
    params = list(model.parameters())
    start = flatten([p.detach().clone() for p in params])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def cost(flat):
        weights = dict(zip(names, unflatten(flat, params), strict=True))
        probabilities = functional_call(model, weights, (xt,))
        return -(yt * torch.log(probabilities)).sum(1).mean()

    matrix = hessian(cost)(start) + 0.1 * torch.eye(len(start)).double()
    expected = start - torch.linalg.solve(matrix, torch.func.grad(cost)(start))
    model.fit(x, y, epochs=1, verbose=0)
    torch.testing.assert_close(flatten([p.detach() for p in params]), expected, rtol=0, atol=1e-10)


def test_fit_trains_a_tiny_model():
    x, y = _blobs()
    model = _small_model(optimizers.get("newton"))
    assert model.count_params() < 200
    history = model.fit(x, y, epochs=15, verbose=0).history
    losses = history["loss"]
    assert all(b <= a for a, b in itertools.pairwise(losses))
    assert losses[-1] < 0.05 * losses[0]
    assert history["accuracy"][-1] == 1.0


def test_manual_backprop_is_refused_before_the_first_step():
    x, y = _blobs()
    model = _small_model(Newton())
    model.backprop = "manual"
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"model\.backprop is 'manual', but Newton need"):
        model.fit(x, y, epochs=1, verbose=0)
    for old, param in zip(before, model.parameters(), strict=True):
        torch.testing.assert_close(param.detach(), old, rtol=0, atol=0)
