"""(Block) coordinate descent (§8.7.2) against closed forms and NumPy transcriptions
(tests/reference/coordinate_descent.py): one sweep on a separable quadratic, Gauss–Seidel
on a coupled one, and the chapter's sparse coding by alternating exact minimizations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from reference import coordinate_descent as reference

from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers import CoordinateDescent
from deepdescent.optimizers.second_order import coordinate_descent as module


def _closure(optimizer, loss_of):
    def closure():
        optimizer.zero_grad()
        value = loss_of()
        value.backward()
        return value

    return closure


def _spd(n, seed, low=0.5, high=20.0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return q @ np.diag(np.geomspace(low, high, n)) @ q.T, rng.normal(size=n)


def test_one_sweep_of_coordinates_minimizes_a_separable_quadratic():
    scales = torch.tensor([1.0, 7.0, 0.1, 30.0], dtype=torch.float64)
    centre = torch.tensor([0.5, -2.0, 3.0, 1.0], dtype=torch.float64)
    theta = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    optimizer = CoordinateDescent([theta], blocks="coordinate")
    optimizer.step(_closure(optimizer, lambda: 0.5 * (scales * (theta - centre) ** 2).sum()))
    torch.testing.assert_close(theta.detach(), centre, rtol=0, atol=1e-12)


def test_one_sweep_of_tensor_blocks_minimizes_a_block_separable_quadratic():
    """Each tensor's sub-problem is a coupled quadratic, solved exactly by CG on the
    block's Hessian; the blocks do not interact, so one sweep reaches the minimum."""
    (a1, b1), (a2, b2) = _spd(5, 0), _spd(3, 1)
    a1, b1, a2, b2 = map(torch.tensor, (a1, b1, a2, b2))
    x = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    y = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = CoordinateDescent([x, y])

    def loss():
        return 0.5 * x @ a1 @ x - b1 @ x + 0.5 * y @ a2 @ y - b2 @ y

    optimizer.step(_closure(optimizer, loss))
    torch.testing.assert_close(x.detach(), torch.linalg.solve(a1, b1), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(y.detach(), torch.linalg.solve(a2, b2), rtol=1e-10, atol=1e-10)


def test_cyclic_coordinates_on_a_coupled_quadratic_are_the_gauss_seidel_iteration():
    a, b = _spd(6, 2)
    x0 = np.linspace(-1.0, 1.0, 6)
    expected = reference.gauss_seidel(a, b, x0, sweeps=5)
    theta = torch.tensor(x0, requires_grad=True)
    optimizer = CoordinateDescent([theta], blocks="coordinate", tolerance_grad=0.0)
    at, bt = torch.tensor(a), torch.tensor(b)
    closure = _closure(optimizer, lambda: 0.5 * theta @ at @ theta - bt @ theta)
    for iterate in expected:
        optimizer.step(closure)
        np.testing.assert_allclose(theta.detach().numpy(), iterate, rtol=1e-10, atol=1e-12)


def _sparse_coding_problem(seed=0, d=6, k=3, m=8):
    rng = np.random.default_rng(seed)
    dictionary = rng.normal(size=(k, d))
    codes = rng.normal(size=(k, m)) * (rng.random(size=(k, m)) < 0.5)
    x = dictionary.T @ codes + 0.05 * rng.normal(size=(d, m))
    return x, rng.normal(size=(k, d)), rng.normal(size=(k, m))


def test_sparse_coding_alternates_exact_minimizations_and_j_never_increases():
    """J(H, W) = λΣ|H| + Σ(X − WᵀH)² with H by coordinates (soft thresholding) and W as one
    block (least squares by CG): the iterates of the NumPy transcription, and a J that goes
    down at every half-step."""
    lam = 0.5
    x, w0, h0 = _sparse_coding_problem()
    expected = reference.sparse_coding(x, w0, h0, lam, sweeps=4)
    h = torch.tensor(h0, requires_grad=True)
    w = torch.tensor(w0, requires_grad=True)
    xt = torch.tensor(x)
    optimizer = CoordinateDescent(
        [{"params": [h], "blocks": "coordinate", "l1": lam}, {"params": [w]}], tolerance_grad=0
    )
    closure = _closure(optimizer, lambda: ((xt - w.T @ h) ** 2).sum())
    for sweep in range(4):
        optimizer.step(closure)
        h_expected, w_expected, _ = expected[2 * sweep + 1]
        np.testing.assert_allclose(h.detach().numpy(), h_expected, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(w.detach().numpy(), w_expected, rtol=1e-8, atol=1e-10)
    values = [reference.sparse_coding_objective(x, w0, h0, lam)] + [j for *_, j in expected]
    assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(values))
    assert (h.detach() == 0).any()  # the L1 term made the codes sparse


def test_weight_decay_adds_its_l2_term_to_each_sub_problem():
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([1.0, -2.0, 4.0], dtype=torch.float64)
    optimizer = CoordinateDescent([theta], blocks="coordinate", weight_decay=3.0)
    optimizer.step(_closure(optimizer, lambda: ((theta - target) ** 2).sum()))
    torch.testing.assert_close(theta.detach(), 2 * target / (2 + 3.0))  # argmin ‖θ−t‖² + 1.5‖θ‖²


@pytest.mark.parametrize("solver", ["newton", "line_search"])
def test_random_order_is_reproducible_from_its_seed_and_converges(solver):
    a, b = map(torch.tensor, _spd(5, 3, high=5.0))
    paths, ends = [], []
    for seed in (1, 1, 2):
        theta = torch.zeros(5, dtype=torch.float64, requires_grad=True)
        optimizer = CoordinateDescent(
            [theta], blocks="coordinate", order="random", seed=seed, solver=solver
        )
        closure = _closure(optimizer, lambda t=theta: 0.5 * t @ a @ t - b @ t)
        values = [optimizer.step(closure).item() for _ in range(40)]
        assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(values))
        paths.append(values)
        ends.append(theta.detach())
    assert paths[0] == paths[1] and paths[0][:3] != paths[2][:3]
    torch.testing.assert_close(ends[0], torch.linalg.solve(a, b), rtol=1e-5, atol=1e-5)


def test_layer_blocks_group_each_layers_tensors_through_fit(monkeypatch):
    seen = []
    product = module.closure_hessian_vector_product

    def spy(closure, params, vectors):
        seen.append(tuple(tuple(p.shape) for p in params))
        return product(closure, params, vectors)

    monkeypatch.setattr(module, "closure_hessian_vector_product", spy)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(3, 1))).astype("float32")
    model = Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(1)])
    model.compile(CoordinateDescent(blocks="layer", max_cg_iter=5), "mse")
    history = model.fit(x, y, epochs=4, verbose=0)
    assert set(seen) == {((3, 4), (4,)), ((4, 1), (1,))}
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_bad_settings_are_refused_with_the_rule():
    theta = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"Invalid l1: 0\.5 \(expected 0 unless blocks='coord"):
        CoordinateDescent([theta], l1=0.5)
    with pytest.raises(ValueError, match="Invalid l1"):
        CoordinateDescent([theta], blocks="coordinate", l1=0.5, solver="line_search")
    with pytest.raises(ValueError, match=r"Invalid blocks: 'layer'.*named parameters"):
        CoordinateDescent([theta], blocks="layer")
    with pytest.raises(ValueError, match="Invalid decoupled_weight_decay"):
        CoordinateDescent([theta], weight_decay=0.1, decoupled_weight_decay=True)
    with pytest.raises(ValueError, match="Unknown blocks 'rows'"):
        CoordinateDescent([theta], blocks="rows")
    with pytest.raises(ValueError, match="Unknown order"):
        CoordinateDescent([theta], order="greedy")
    with pytest.raises(RuntimeError, match="re-evaluates the loss"):
        CoordinateDescent([theta]).step()
