"""L-BFGS against the two-loop transcription (N&W Algorithms 7.4–7.5) and SciPy, and the
behaviour BFGS and L-BFGS share (``optimizers/_quasi_newton.py``), tested on both."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference import quasi_newton
from scipy.optimize import minimize

from deepdescent.layers import Dense
from deepdescent.models import Sequential, load_model
from deepdescent.optimizers.second_order.bfgs import BFGS
from deepdescent.optimizers.second_order.lbfgs import LBFGS
from deepdescent.utils import set_random_seed, to_categorical

BOTH = [BFGS, LBFGS]


def logistic_data(seed=0, n=200, d=10):
    """Features of scales 1 … 10 (so the problem is not trivially conditioned), noisy
    labels in {−1, +1}."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * np.geomspace(1.0, 10.0, d)
    t = np.where(x @ rng.normal(size=d) + rng.normal(scale=2.0, size=n) > 0, 1.0, -1.0)
    return x, t, 1e-2


def logistic_loss(x, t, lam, device="cpu"):
    """The torch form of ``quasi_newton.logistic_regression``, in (w, b)."""
    features, labels = torch.from_numpy(x).to(device), torch.from_numpy(t).to(device)

    def loss(w, b):
        return F.softplus(-labels * (features @ w + b)).mean() + 0.5 * lam * w.dot(w)

    return loss


def closure_for(optimizer, loss_fn, calls=None):
    def closure():
        optimizer.zero_grad()
        value = loss_fn()
        value.backward()
        if calls is not None:
            calls.append(1)
        return value

    return closure


def weights(d=10, dtype=torch.float64, scale=0.0, seed=0):
    w = torch.randn(d, dtype=dtype, generator=torch.Generator().manual_seed(seed)) * scale
    return w.requires_grad_(), torch.zeros((), dtype=dtype, requires_grad=True)


def flat(*tensors):
    return torch.cat([t.detach().reshape(-1) for t in tensors]).numpy().copy()


def scipy_optimum(x, t, lam):
    fun, hess = quasi_newton.logistic_regression(x, t, lam)
    result = minimize(
        fun,
        np.zeros(x.shape[1] + 1),
        jac=True,
        hess=hess,
        method="trust-exact",
        options={"gtol": 1e-10},
    )
    assert np.abs(fun(result.x)[1]).max() <= 1e-10
    return result.x


def test_logistic_loss_matches_the_numpy_reference():
    x, t, lam = logistic_data()
    fun, _ = quasi_newton.logistic_regression(x, t, lam)
    w, b = weights(scale=0.1)
    loss = logistic_loss(x, t, lam)(w, b)
    loss.backward()
    value, gradient = fun(flat(w, b))
    assert loss.item() == pytest.approx(value, rel=1e-13)
    np.testing.assert_allclose(flat(w.grad, b.grad), gradient, rtol=1e-11, atol=1e-14)


# -- L-BFGS against its references ---------------------------------------------------------


def test_iterates_match_the_two_loop_transcription():
    """m = 4 with 20 iterations, so the memory wraps. The transcription is fed the step
    lengths ours accepted (the projection of our step on its own direction): the
    iterates then agree only if the directions −Hₖ∇fₖ agree."""
    x, t, lam = logistic_data()
    fun, _ = quasi_newton.logistic_regression(x, t, lam)
    loss = logistic_loss(x, t, lam)
    w, b = weights(scale=0.1)
    optimizer = LBFGS([w, b], max_iter=1, history_size=4, tolerance_grad=0.0)
    path = [flat(w, b)]
    for _ in range(20):
        optimizer.step(closure_for(optimizer, lambda: loss(w, b)))
        path.append(flat(w, b))
    assert optimizer.state[w]["s"].shape == (4, 11) and optimizer.state[w]["n_iter"] == 20

    def our_step(k, theta, d):
        return float((path[k + 1] - theta) @ d / (d @ d))

    reference = quasi_newton.lbfgs(path[0], lambda th: fun(th)[1], 4, our_step, 20)
    for k, (ours, theirs) in enumerate(zip(path, reference, strict=True)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-11, err_msg=f"iterate {k}")


def test_reaches_the_scipy_optimum():
    x, t, lam = logistic_data()
    loss = logistic_loss(x, t, lam)
    w, b = weights()
    optimizer = LBFGS([w, b], max_iter=1000, tolerance_grad=1e-9, tolerance_change=0.0)
    optimizer.step(closure_for(optimizer, lambda: loss(w, b)))
    np.testing.assert_allclose(flat(w, b), scipy_optimum(x, t, lam), rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_needs_no_more_evaluations_than_scipy_lbfgsb(seed):
    """Same memory m = 10 and the same stopping test, max |∇f| <= 1e-6 (L-BFGS-B's
    projected-gradient test without bounds); ftol = 0 so SciPy stops on the gradient."""
    x, t, lam = logistic_data(seed)
    fun, _ = quasi_newton.logistic_regression(x, t, lam)
    theirs = minimize(
        fun,
        np.zeros(x.shape[1] + 1),
        jac=True,
        method="L-BFGS-B",
        options={"maxcor": 10, "gtol": 1e-6, "ftol": 0.0, "maxiter": 10_000},
    )
    assert np.abs(fun(theirs.x)[1]).max() <= 1e-6
    loss = logistic_loss(x, t, lam)
    w, b = weights()
    optimizer = LBFGS(
        [w, b],
        max_iter=10_000,
        max_eval=10_000,
        history_size=10,
        tolerance_grad=1e-6,
        tolerance_change=0.0,
    )
    calls: list[int] = []
    optimizer.step(closure_for(optimizer, lambda: loss(w, b), calls))
    assert np.abs(fun(flat(w, b))[1]).max() <= 1e-6
    assert len(calls) == optimizer.state[w]["func_evals"]
    assert len(calls) <= theirs.nfev, (len(calls), theirs.nfev)


def test_pairs_come_from_one_minibatch():
    """Batches f_B(θ) = ½θᵀAθ − b_Bᵀθ share A but not b_B. A pair formed within one
    batch has y = A s exactly; one mixing two batches' gradients (torch.optim.LBFGS's
    first pair of each step) would be off by b_B − b_B′."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    a = torch.from_numpy(q @ np.diag(np.geomspace(1.0, 20.0, 6)) @ q.T)
    shifts = torch.from_numpy(rng.normal(scale=3.0, size=(4, 6)))
    theta = torch.ones(6, dtype=torch.float64, requires_grad=True)
    optimizer = LBFGS([theta], max_iter=2, history_size=20)
    for step in range(12):
        shift = shifts[step % 4]
        optimizer.step(closure_for(optimizer, lambda s=shift: 0.5 * theta @ a @ theta - s @ theta))
    pairs = list(zip(optimizer.state[theta]["s"], optimizer.state[theta]["y"], strict=True))
    assert len(pairs) >= 12
    for s, y in pairs:
        torch.testing.assert_close(y, a @ s, rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_trains_a_network_with_minibatches_through_fit():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=2.0, size=(3, 5))
    labels = rng.integers(0, 3, size=256)
    x = (centers[labels] + rng.normal(size=(256, 5))).astype("float32")
    set_random_seed(0)
    model = Sequential(
        [Dense(16, activation="tanh", input_shape=(5,)), Dense(3, activation="softmax")]
    )
    optimizer = LBFGS(max_iter=3, history_size=10)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    y = to_categorical(labels, 3)
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] and model.evaluate(x, y, verbose=0) < 0.5 * before
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert optimizer.iterations == 4 * 8


def test_model_save_carries_the_history(tmp_path):
    x = np.random.default_rng(1).normal(size=(64, 4)).astype("float32")
    y = to_categorical(np.arange(64) % 2, 2)
    set_random_seed(0)
    model = Sequential([Dense(2, activation="softmax", input_shape=(4,))])
    model.compile(optimizer=LBFGS(max_iter=4, history_size=3), loss="categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.deepdescent")
    loaded = load_model(tmp_path / "m.deepdescent")
    saved, restored = model.optimizer.state_dict(), loaded.optimizer.state_dict()
    for key in ("s", "y", "rho", "gamma", "head", "n_iter"):
        torch.testing.assert_close(restored["state"][0][key], saved["state"][0][key])
    model.fit(x, y, epochs=1, verbose=0)
    loaded.fit(x, y, epochs=1, verbose=0)
    for ours, theirs in zip(model.parameters(), loaded.parameters(), strict=True):
        torch.testing.assert_close(theirs, ours, rtol=0, atol=0)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no line search fails at float32's limit
def test_full_batch_fit_takes_one_step_per_epoch():
    x, labels = np.random.default_rng(1).normal(size=(64, 4)).astype("float32"), np.arange(64) % 2
    set_random_seed(0)
    model = Sequential([Dense(2, activation="softmax", input_shape=(4,))])
    model.compile(optimizer=LBFGS(max_iter=5), loss="categorical_crossentropy")
    history = model.fit(x, to_categorical(labels, 2), epochs=3, verbose=0)
    assert model.optimizer.iterations == 3
    assert history.history["loss"][-1] < history.history["loss"][0]


# -- shared behaviour, on both classes ------------------------------------------------------


def rosenbrock(theta):
    return ((1 - theta[:-1]) ** 2 + 10.0 * (theta[1:] - theta[:-1] ** 2) ** 2).sum()


def run(optimizer, params, loss_fn, steps):
    for _ in range(steps):
        optimizer.step(closure_for(optimizer, lambda: loss_fn(*params)))


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


def test_invalid_history_size_and_groups_that_disagree():
    with pytest.raises(ValueError, match="Invalid history_size"):
        LBFGS(history_size=0)
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid history_size: 5 in a parameter group"):
        LBFGS([{"params": [a]}, {"params": [b], "history_size": 5}])


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


def test_tolerance_change_bounds_the_slope_before_the_learning_rate_as_torch_does():
    """torch.optim.LBFGS stops when gᵀd > −tolerance_change with d = −Hg (the step t = lr
    comes after); with lr = 0.1 a test on gᵀ(lr·d) would stop ten times too early. Same
    quadratic, same fixed step: the same iterations, to the same point."""
    a = torch.diag(torch.tensor([1.0, 3.0, 10.0], dtype=torch.float64))

    def run(cls):
        theta = torch.tensor([0.1, -0.05, 0.02], dtype=torch.float64, requires_grad=True)
        optimizer = cls(
            [theta],
            lr=0.1,
            max_iter=500,
            max_eval=10_000,
            tolerance_grad=0.0,
            tolerance_change=1e-5,
            history_size=5,
            line_search_fn=None,
        )
        optimizer.step(closure_for(optimizer, lambda: 0.5 * theta @ a @ theta))
        return theta.detach(), optimizer.state[theta]["n_iter"]

    ours, our_iterations = run(LBFGS)
    theirs, their_iterations = run(torch.optim.LBFGS)
    assert our_iterations == their_iterations > 20
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
