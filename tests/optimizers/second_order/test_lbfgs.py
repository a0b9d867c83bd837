"""L-BFGS against the two-loop transcription (N&W Algorithms 7.4–7.5) and SciPy. The
behaviour BFGS and L-BFGS share is tested on both in test_quasi_newton.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from optimizers.second_order._problems import (
    closure_for,
    flat,
    logistic_data,
    logistic_loss,
    weights,
)
from reference import quasi_newton
from scipy.optimize import minimize

from deepdescent.layers import Dense
from deepdescent.models import Sequential, load_model
from deepdescent.optimizers.second_order.lbfgs import LBFGS
from deepdescent.utils import set_random_seed, to_categorical


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


def test_invalid_history_size_and_groups_that_disagree():
    with pytest.raises(ValueError, match="Invalid history_size"):
        LBFGS(history_size=0)
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid history_size: 5 in a parameter group"):
        LBFGS([{"params": [a]}, {"params": [b], "history_size": 5}])
