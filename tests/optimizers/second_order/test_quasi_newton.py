"""What BFGS and L-BFGS share (``optimizers/second_order/quasi_newton.py``), tested on
both: parameter groups as one flat vector, weight decay as a term of the objective, the
stopping tests, curvature pairs, failures; and the flat-vector helpers and the fixed step
against hand computations."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from optimizers.second_order._problems import (
    closure_for,
    flat,
    logistic_data,
    logistic_loss,
    rosenbrock,
    run,
    weights,
)
from reference import quasi_newton

from deepdescent.optimizers.second_order.bfgs import BFGS
from deepdescent.optimizers.second_order.lbfgs import LBFGS
from deepdescent.optimizers.second_order.quasi_newton import FlatParameters, fixed_step

BOTH = [BFGS, LBFGS]


def test_logistic_loss_matches_the_numpy_reference():
    x, t, lam = logistic_data()
    fun, _ = quasi_newton.logistic_regression(x, t, lam)
    w, b = weights(scale=0.1)
    loss = logistic_loss(x, t, lam)(w, b)
    loss.backward()
    value, gradient = fun(flat(w, b))
    assert loss.item() == pytest.approx(value, rel=1e-13)
    np.testing.assert_allclose(flat(w.grad, b.grad), gradient, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("cls", BOTH)
def test_groups_are_one_flat_vector(cls):
    """Two groups, or the parameters in a different split, give the iterates of one."""
    x, t, lam = logistic_data()
    loss = logistic_loss(x, t, lam)
    results = []
    for split in (False, True):
        w, b = weights(scale=0.1)
        params = [{"params": [w]}, {"params": [b]}] if split else [w, b]
        optimizer = cls(params, max_iter=4)
        run(optimizer, (w, b), loss, 3)
        results.append(flat(w, b))
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("cls", BOTH)
def test_coupled_weight_decay_is_an_l2_term_of_the_objective(cls):
    """weight_decay=λ on w's group follows the iterates of the loss with ½λ‖w‖² added."""
    x, t, _ = logistic_data()
    plain, penalized = logistic_loss(x, t, 0.0), logistic_loss(x, t, 0.05)
    w, b = weights(scale=0.1)
    optimizer = cls([{"params": [w], "weight_decay": 0.05}, {"params": [b]}], max_iter=5)
    run(optimizer, (w, b), plain, 3)
    w2, b2 = weights(scale=0.1)
    reference = cls([w2, b2], max_iter=5)
    run(reference, (w2, b2), penalized, 3)
    np.testing.assert_allclose(flat(w, b), flat(w2, b2), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", BOTH)
def test_decoupled_weight_decay_shrinks_after_the_iterations(cls):
    x, t, lam = logistic_data()
    loss = logistic_loss(x, t, lam)
    w, b = weights(scale=0.1)
    optimizer = cls([w, b], lr=0.5, max_iter=2, weight_decay=0.1, decoupled_weight_decay=True)
    w2, b2 = weights(scale=0.1)
    reference = cls([w2, b2], lr=0.5, max_iter=2)
    for _ in range(3):
        run(optimizer, (w, b), loss, 1)
        run(reference, (w2, b2), loss, 1)
        with torch.no_grad():
            w2.mul_(1 - 0.5 * 0.1)
            b2.mul_(1 - 0.5 * 0.1)
    np.testing.assert_allclose(flat(w, b), flat(w2, b2), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", BOTH)
def test_a_group_with_lr_zero_stays_and_dtypes_mix(cls):
    x, t, lam = logistic_data()
    loss = logistic_loss(x, t, lam)
    w, _ = weights(scale=0.1)
    b = torch.tensor(0.3, dtype=torch.float32, requires_grad=True)
    optimizer = cls([{"params": [b], "lr": 0.0}, {"params": [w]}], max_iter=10)
    before = loss(w, b.double()).item()
    run(optimizer, (w, b), lambda w, b: loss(w, b.double()), 2)
    assert b.item() == pytest.approx(0.3) and b.dtype == torch.float32
    assert loss(w, b.double()).item() < 0.9 * before
    state = optimizer.state[w]  # the first float64 parameter holds the state
    assert state["n_iter"] > 0 and not optimizer.state[b]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cls", BOTH)
def test_cuda_iterates_equal_the_cpu_iterates(cls):
    x, t, lam = logistic_data()
    paths = []
    for device in ("cpu", "cuda"):
        w = torch.zeros(10, dtype=torch.float64, device=device, requires_grad=True)
        b = torch.zeros((), dtype=torch.float64, device=device, requires_grad=True)
        optimizer = cls([w, b], max_iter=10)
        run(optimizer, (w, b), logistic_loss(x, t, lam, device), 2)
        assert optimizer.state[w]["n_iter"] > 10
        paths.append(flat(w.cpu(), b.cpu()))
    np.testing.assert_allclose(paths[1], paths[0], rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cls", BOTH)
def test_parameters_on_two_devices(cls):
    x, t, lam = logistic_data()
    loss = logistic_loss(x, t, lam)
    w, b = weights(scale=0.1)
    b_cuda = b.detach().cuda().requires_grad_()
    optimizer = cls([{"params": [w]}, {"params": [b_cuda]}], max_iter=5)
    run(optimizer, (w, b_cuda), lambda w, b: loss(w, b.cpu()), 2)
    w2, b2 = weights(scale=0.1)
    reference = cls([w2, b2], max_iter=5)
    run(reference, (w2, b2), loss, 2)
    np.testing.assert_allclose(flat(w, b_cuda.cpu()), flat(w2, b2), rtol=1e-10)


@pytest.mark.parametrize("cls", BOTH)
def test_a_schedule_and_a_group_added_later(cls):
    """The schedule sets lr before each step (lr = 0: no move); a group added later
    restarts the memory on the longer vector."""
    theta = torch.tensor([2.0, -1.0], dtype=torch.float64, requires_grad=True)
    optimizer = cls([theta], lr=lambda k: 0.5 if k == 0 else 0.0, max_iter=3)
    run(optimizer, (theta,), rosenbrock, 1)
    after_first = theta.detach().clone()
    assert not torch.equal(after_first, torch.tensor([2.0, -1.0], dtype=torch.float64))
    run(optimizer, (theta,), rosenbrock, 2)
    torch.testing.assert_close(theta.detach(), after_first, rtol=0, atol=0)
    extra = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    optimizer.learning_rate = lambda k: 1.0
    assert optimizer._has_curvature(optimizer.state[theta])
    optimizer.add_param_group({"params": [extra]})
    joint = lambda a, b: rosenbrock(torch.cat([a, b]))  # noqa: E731
    before = joint(theta, extra).item()
    run(optimizer, (theta, extra), joint, 2)
    assert optimizer.state[theta]["size"] == 3 and joint(theta, extra).item() < 0.5 * before


@pytest.mark.parametrize("cls", BOTH)
def test_state_dict_round_trip_continues_identically(cls):
    theta = torch.linspace(-1, 1, 10, dtype=torch.float64, requires_grad=True)
    optimizer = cls([theta], max_iter=3)
    run(optimizer, (theta,), rosenbrock, 3)
    saved = copy.deepcopy(optimizer.state_dict())
    twin = theta.detach().clone().requires_grad_()
    run(optimizer, (theta,), rosenbrock, 3)
    resumed = cls([twin], max_iter=3)
    resumed.load_state_dict(saved)
    run(resumed, (twin,), rosenbrock, 3)
    assert resumed.iterations == optimizer.iterations == 6
    torch.testing.assert_close(twin, theta, rtol=0, atol=0)


@pytest.mark.parametrize("cls", BOTH)
def test_keras_door_and_config(cls):
    spec = cls(learning_rate=0.5, max_iter=7, c2=0.5)
    assert not spec.is_bound
    config = spec.get_config()
    assert config["lr"] == 0.5 and config["c2"] == 0.5 and config["max_eval"] == 8
    assert cls(**config).get_config() == config
    theta = torch.full((10,), -0.5, dtype=torch.float64, requires_grad=True)
    spec.bind([theta])
    before = rosenbrock(theta).item()
    run(spec, (theta,), rosenbrock, 3)
    assert rosenbrock(theta).item() < 0.5 * before


@pytest.mark.parametrize("cls", BOTH)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("lr", -1.0),
        ("max_iter", 0),
        ("max_eval", 0),
        ("tolerance_grad", -1e-3),
        ("tolerance_change", "small"),
        ("line_search_fn", "wolfe"),
        ("c1", 0.0),
        ("c2", 1.0),
        ("max_ls", 0),
        ("curvature_eps", -1e-8),
        ("weight_decay", -0.1),
        ("gradient_accumulation_steps", 2),
    ],
)
def test_invalid_hyperparameters(cls, name, value):
    with pytest.raises(ValueError, match=f"Invalid {name}"):
        cls(**{name: value})


@pytest.mark.parametrize("cls", BOTH)
def test_a_failing_line_search_leaves_the_parameters_and_says_so(cls):
    """The closure back-propagates −f, so every direction it suggests goes up."""
    theta = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    optimizer = cls([theta], max_iter=5)

    def closure():
        optimizer.zero_grad()
        value = (theta**2).sum()
        (-value).backward()
        return value

    with pytest.warns(RuntimeWarning, match="line search failed"):
        optimizer.step(closure)
    torch.testing.assert_close(theta.detach(), torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    assert optimizer.state[theta]["n_iter"] == 0


@pytest.mark.parametrize("cls", BOTH)
def test_bad_closures(cls):
    theta = torch.ones(3, requires_grad=True)
    optimizer = cls([theta])
    with pytest.raises(RuntimeError, match="closure"):
        optimizer.step()

    def vector_loss():
        optimizer.zero_grad()
        value = theta**2
        value.sum().backward()
        return value

    with pytest.raises(ValueError, match="scalar"):
        optimizer.step(vector_loss)
    with pytest.raises(ValueError, match="nan"):
        optimizer.step(closure_for(optimizer, lambda: (theta * float("nan")).sum()))


@pytest.mark.parametrize("cls", BOTH)
def test_pairs_without_positive_curvature_are_skipped(cls):
    """f = Σ cos θᵢ is concave for |θᵢ| < π/2: fixed steps there give sᵀy < 0 and no pair
    is kept; near θ = π it is convex and pairs are kept."""
    for start, kept in ((0.5, False), (2.8, True)):
        theta = torch.full((4,), start, dtype=torch.float64, requires_grad=True)
        optimizer = cls([theta], lr=0.1, max_iter=1, line_search_fn=None)
        run(optimizer, (theta,), lambda th: th.cos().sum(), 3)
        assert optimizer._has_curvature(optimizer.state[theta]) is kept
        assert theta.detach().abs().max() < (math.pi / 2 if not kept else math.pi)


@pytest.mark.parametrize("cls", BOTH)
def test_fixed_step_costs_two_evaluations_and_follows_clipped_gradient(cls):
    """Without a line search the first iteration is θ − lr·t·clip(g) with
    t = min(1, 1/‖clip(g)‖₂) (a step of unit length, as L-BFGS-B's first), plus one
    evaluation at the new point for the pair."""
    theta = torch.tensor([3.0, -0.2, 0.05], dtype=torch.float64, requires_grad=True)
    optimizer = cls([theta], lr=0.5, max_iter=1, line_search_fn=None, clipvalue=1.0)
    calls: list[int] = []
    optimizer.step(closure_for(optimizer, lambda: (theta**2).sum(), calls))
    clipped = np.array([1.0, -0.4, 0.1])  # 2θ clipped to [-1, 1]
    expected = np.array([3.0, -0.2, 0.05]) - 0.5 * clipped / np.linalg.norm(clipped)
    np.testing.assert_allclose(theta.detach().numpy(), expected, rtol=1e-14)
    assert len(calls) == 2


@pytest.mark.parametrize("cls", BOTH)
def test_stops_at_once_when_the_gradient_is_below_tolerance(cls):
    theta = torch.tensor([1e-9, -1e-9], dtype=torch.float64, requires_grad=True)
    optimizer = cls([theta])
    calls: list[int] = []
    optimizer.step(closure_for(optimizer, lambda: (theta**2).sum(), calls))
    assert len(calls) == 1 and theta.tolist() == [1e-9, -1e-9]


@pytest.mark.parametrize("cls", BOTH)
def test_groups_may_differ_only_in_lr_and_weight_decay(cls):
    a, b, c = (torch.zeros(2, requires_grad=True) for _ in range(3))
    optimizer = cls([{"params": [a]}, {"params": [b], "lr": 0.5, "weight_decay": 0.1}])
    with pytest.raises(ValueError) as caught:
        optimizer.add_param_group({"params": [c], "max_iter": 7})
    assert str(caught.value).startswith(
        "Invalid max_iter: 7 in a parameter group (expected 20 as in the first group: "
        f"{cls.__name__} optimizes all groups jointly"
    )
    assert len(optimizer.param_groups) == 2


# -- the flat vector and the fixed step, by hand ---------------------------------------------


def _two_groups():
    """A float32 matrix in a group with lr 0.5 and coupled decay 0.1, a float64 vector in a
    group with lr 0 (frozen) and decoupled decay; only the matrix has a gradient."""
    matrix = torch.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    vector = torch.tensor([5.0, 6.0, 7.0], dtype=torch.float64, requires_grad=True)
    matrix.grad = torch.tensor([[0.5, 0.5], [-1.0, 2.0]])
    groups = [
        {"params": [matrix], "lr": 0.5, "weight_decay": 0.1, "decoupled_weight_decay": False},
        {"params": [vector], "lr": 0.0, "weight_decay": 0.3, "decoupled_weight_decay": True},
    ]
    return FlatParameters(groups), matrix, vector


def test_flat_parameters_lay_every_group_end_to_end_in_the_widest_dtype():
    parts, matrix, vector = _two_groups()
    assert parts.dtype == torch.float64 and parts.home is vector and parts.numel == 7
    values = parts.values()
    assert values.dtype == torch.float64
    assert values.tolist() == [1.0, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert parts.gather([matrix.grad, None]).tolist() == [0.5, 0.5, -1.0, 2.0, 0.0, 0.0, 0.0]
    back = parts.unflatten(values * 2)
    assert back[0].dtype == torch.float32 and back[0].tolist() == [[2.0, -4.0], [6.0, 8.0]]
    assert back[1].dtype == torch.float64 and back[1].tolist() == [10.0, 12.0, 14.0]
    v = torch.arange(7.0, dtype=torch.float64)
    pieces = parts.split(v)
    assert [p.tolist() for p in pieces] == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert pieces[1].data_ptr() == v[4:].data_ptr()  # views, for the base's clipping in place


def test_flat_parameters_scale_free_and_mask_by_group():
    parts, _, _ = _two_groups()
    v = torch.ones(7, dtype=torch.float64)
    assert parts.scale_by_lr(v.clone()).tolist() == [0.5] * 4 + [0.0] * 3
    freed = parts.free(v)
    assert freed.tolist() == [1.0] * 4 + [0.0] * 3 and v.tolist() == [1.0] * 7  # a copy
    assert parts.mask_(v).tolist() == [1.0] * 4 + [0.0] * 3  # the vector has no gradient
    assert parts.l2() == [0.1, 0.0]


def test_flat_parameters_objective_adds_the_coupled_decay_term():
    """F = loss + ½λ‖matrix‖², ∇F = ∇loss + λ matrix; the decoupled group adds nothing."""
    parts, _, _ = _two_groups()
    x = parts.values()
    value, gradient = parts.objective(torch.tensor(2.0), x)
    m = np.array([1.0, -2.0, 3.0, 4.0])
    assert value == pytest.approx(2.0 + 0.5 * 0.1 * (m @ m))
    expected = np.concatenate([np.array([0.5, 0.5, -1.0, 2.0]) + 0.1 * m, np.zeros(3)])
    np.testing.assert_allclose(gradient.numpy(), expected, rtol=1e-7)


def test_fixed_step_evaluates_once_where_it_lands():
    calls = []

    def phi(step):
        calls.append(step)
        return 3.0 - step, -1.0

    result = fixed_step(phi, 0.25)
    assert calls == [0.25]
    assert (result.step, result.value, result.slope, result.evaluations) == (0.25, 2.75, -1.0, 1)
    assert result.success and result.message == "fixed step taken"
    failed = fixed_step(lambda step: (math.inf, 0.0), 1.0)
    assert not failed.success and "not finite" in failed.message
