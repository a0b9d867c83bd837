"""Shampoo (Gupta, Koren & Singer 2018) against a NumPy transcription of Algorithms 1–2."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from optimizers.second_order._seed_network import FASHION, seed_network_test_accuracy
from reference import shampoo as reference

from deepdescent.optimizers.second_order.shampoo import Shampoo

STEPS = 50


def matrix_least_squares(shape=(4, 3), seed=0):
    """f(W) = ½‖X W − Y‖²/n with its gradient Xᵀ(XW − Y)/n, for W of ``shape``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(20, shape[0]))
    y = np.tensordot(x, rng.normal(size=shape), axes=1) + 0.1 * rng.normal(size=(20, *shape[1:]))

    def f(W):
        residual = np.tensordot(x, W, axes=1) - y
        return 0.5 * (residual**2).sum() / len(x), np.tensordot(x.T, residual, axes=1) / len(x)

    return f, rng.normal(size=shape)


def run_ours(f, W0, steps, **options):
    """Iterates of deepdescent's Shampoo fed the closed-form gradient (float64)."""
    W = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    optimizer = Shampoo([W], **options)
    path = [W0.copy()]
    for _ in range(steps):
        W.grad = torch.from_numpy(f(W.detach().numpy())[1])
        optimizer.step()
        path.append(W.detach().numpy().copy())
    return path


def assert_paths_close(ours, theirs, rtol=1e-8):
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        error = np.abs(a - b).max()
        assert error <= rtol * max(np.abs(b).max(), 1.0), f"iterate {k}: error {error:.2e}"


RAW = {"grafting": None, "precondition_frequency": 1}


def test_algorithm_1_follows_the_paper():
    f, W0 = matrix_least_squares()
    theirs = reference.shampoo(W0, lambda W: f(W)[1], lr=0.1, eps=1e-3, steps=STEPS)
    assert_paths_close(run_ours(f, W0, STEPS, lr=0.1, eps=1e-3, **RAW), theirs)
    assert f(theirs[-1])[0] < 0.5 * f(W0)[0]


def test_stale_roots_between_recomputations():
    f, W0 = matrix_least_squares()
    theirs = reference.shampoo(W0, lambda W: f(W)[1], 0.1, 1e-3, STEPS, frequency=7)
    ours = run_ours(f, W0, STEPS, lr=0.1, eps=1e-3, grafting=None, precondition_frequency=7)
    assert_paths_close(ours, theirs)


def test_algorithm_2_on_an_order_3_tensor():
    f, W0 = matrix_least_squares(shape=(3, 2, 4))
    theirs = reference.shampoo_tensor(W0, lambda W: f(W)[1], lr=0.1, eps=1e-3, steps=STEPS)
    assert_paths_close(run_ours(f, W0, STEPS, lr=0.1, eps=1e-3, **RAW), theirs)


def test_vectors_take_diagonal_adagrad():
    f, w0 = matrix_least_squares(shape=(5,))
    theirs = reference.diagonal_adagrad(w0, lambda w: f(w)[1], lr=0.1, eps=1e-3, steps=STEPS)
    assert_paths_close(run_ours(f, w0, STEPS, lr=0.1, eps=1e-3, **RAW), theirs)


def test_long_axes_are_left_unpreconditioned():
    """With max_preconditioner_dim=4 a 3×6 matrix gets only L: W ← W − η L^{−1/4} G."""
    f, W0 = matrix_least_squares(shape=(3, 6))
    L, W, theirs = 1e-3 * np.eye(3), W0.copy(), [W0.copy()]
    for _ in range(10):
        G = f(W)[1]
        L = L + G @ G.T
        W = W - 0.1 * reference.matrix_power(L, -0.25) @ G
        theirs.append(W.copy())
    ours = run_ours(f, W0, 10, lr=0.1, eps=1e-3, max_preconditioner_dim=4, **RAW)
    assert_paths_close(ours, theirs)


def _one_step(grafting, W0, G, warmup):
    """The step Shampoo takes on gradient G after ``warmup`` earlier gradients."""
    W = torch.tensor(W0, requires_grad=True, dtype=torch.float64)
    optimizer = Shampoo([W], lr=1.0, grafting=grafting, precondition_frequency=1)
    for grad in [*warmup, G]:
        before = W.detach().clone()
        W.grad = torch.from_numpy(grad)
        optimizer.step()
    return (before - W.detach()).numpy()


def test_grafting_takes_the_direction_from_shampoo_and_the_length_from_the_graft():
    rng = np.random.default_rng(1)
    W0, G = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    warmup = [rng.normal(size=(4, 3)) for _ in range(3)]
    raw = _one_step(None, W0, G, warmup)
    unit = raw / np.linalg.norm(raw)
    adagrad_step = G / (np.sqrt(sum(g**2 for g in [*warmup, G])) + 1e-7)
    for grafting, length in (("sgd", np.linalg.norm(G)), ("adagrad", np.linalg.norm(adagrad_step))):
        step = _one_step(grafting, W0, G, warmup)
        np.testing.assert_allclose(np.linalg.norm(step), length, rtol=1e-10)
        np.testing.assert_allclose(step / np.linalg.norm(step), unit, rtol=1e-10, atol=1e-12)


def test_weight_decay_and_clipping_act_on_the_gradient_the_statistics_see():
    f, W0 = matrix_least_squares()
    decay, clip = 0.1, 0.5

    def seen(W):  # the base clips ∇f first, then adds the coupled decay λW
        g = f(W)[1]
        return g * min(1.0, clip / np.linalg.norm(g)) + decay * W

    theirs = reference.shampoo(W0, seen, lr=0.1, eps=1e-3, steps=20)
    ours = run_ours(f, W0, 20, lr=0.1, eps=1e-3, weight_decay=decay, global_clipnorm=clip, **RAW)
    assert_paths_close(ours, theirs)


def _train(optimizer, params, steps, seed):
    torch.manual_seed(seed)
    x, y = torch.randn(32, 5, dtype=torch.float64), torch.randn(32, 2, dtype=torch.float64)
    weight, bias = params
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(torch.tanh(x @ weight) + bias, y).backward()
        optimizer.step()


def test_state_dict_round_trip_resumes_identically():
    options = {"lr": 0.05, "momentum": 0.9, "precondition_frequency": 4}
    params = [torch.randn(5, 2, dtype=torch.float64).requires_grad_(), torch.zeros(2).double()]
    params[1].requires_grad_()
    optimizer = Shampoo(params, **options)
    _train(optimizer, params, 6, seed=0)
    saved = copy.deepcopy(optimizer.state_dict())
    twins = [p.detach().clone().requires_grad_() for p in params]
    _train(optimizer, params, 5, seed=1)
    resumed = Shampoo(twins, **options)
    resumed.load_state_dict(saved)
    _train(resumed, twins, 5, seed=1)
    for ours, theirs in zip(twins, params, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_param_groups_keep_their_own_learning_rates():
    moving = torch.ones(3, 2, requires_grad=True)
    frozen = torch.ones(3, 2, requires_grad=True)
    optimizer = Shampoo([{"params": [moving]}, {"params": [frozen], "lr": 0.0}], lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        ((moving - 2) ** 2).sum().backward()
        ((frozen - 2) ** 2).sum().backward()
        optimizer.step()
    assert (moving.detach() > 1).all()
    torch.testing.assert_close(frozen.detach(), torch.ones(3, 2))


def test_config_round_trip():
    optimizer = Shampoo(lr=0.05, grafting="sgd", precondition_frequency=3)
    config = optimizer.get_config()
    assert Shampoo.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("momentum", 1.0),
        ("eps", 0.0),
        ("precondition_frequency", 0),
        ("grafting", "adam"),
        ("grafting_eps", -1.0),
        ("max_preconditioner_dim", 0),
        ("lr", -0.1),
        ("weight_decay", -1.0),
    ],
)
def test_invalid_hyperparameters_name_the_argument(argument, value):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        Shampoo(**{argument: value})


@pytest.mark.realdata
@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_compile_by_name_trains_the_seed_network_on_fashion_mnist():
    """784-32-10 (sigmoid, softmax), 5000 images, 2 epochs: far above chance (10%)."""
    accuracy = seed_network_test_accuracy("shampoo", batch_size=128)
    assert accuracy > 0.7, f"test accuracy {accuracy:.3f} after 2 epochs"
