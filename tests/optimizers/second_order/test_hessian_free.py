"""Hessian-free optimization (Martens 2010) against a NumPy transcription on explicit
curvature matrices, and what each of Martens's ingredients buys, switched off one by one."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from optimizers.second_order._seed_network import FASHION, seed_network_test_accuracy
from reference import hessian_free as reference

from deepdescent import losses
from deepdescent.layers import Dense
from deepdescent.layers.recording import recordable_layers
from deepdescent.models import Sequential
from deepdescent.optimizers.contract import ModelOutputs
from deepdescent.optimizers.second_order.hessian_free import (
    HessianFree,
    Iterate,
    backtrack,
    conjugate_gradient,
    storage_indices,
)


class LogisticRegression:
    """f(θ) = mean(softplus(z) − y z), z = Xw + b: a GLM, so Gauss–Newton = Hessian =
    X̃ᵀ diag(σ(1 − σ)) X̃ / n; ``scale`` multiplies the curvature handed to HF."""

    def __init__(
        self,
        seed: int = 0,
        n: int = 60,
        scale: float = 1.0,
        decay: float = 0.0,
        features: int = 5,
        spread: float = 0.0,
    ):
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(n, features)) * np.logspace(0, spread, features)
        truth = rng.normal(size=features) / np.logspace(0, spread, features)
        self.y = (rng.random(n) < 1 / (1 + np.exp(-self.x @ truth))).astype(float)
        self.x_tilde = np.hstack([self.x, np.ones((n, 1))])
        self.scale, self.decay = scale, decay

    def f(self, theta):
        z = self.x_tilde @ theta
        return np.mean(np.logaddexp(0, z) - self.y * z) + 0.5 * self.decay * theta @ theta

    def grad(self, theta):
        s = 1 / (1 + np.exp(-self.x_tilde @ theta))
        return self.x_tilde.T @ (s - self.y) / len(self.y) + self.decay * theta

    def curvature(self, theta):
        s = 1 / (1 + np.exp(-self.x_tilde @ theta))
        gauss_newton = (self.x_tilde.T * (s * (1 - s))) @ self.x_tilde / len(self.y)
        return self.scale * gauss_newton + self.decay * np.eye(len(theta))

    def squared_gradients(self, theta):
        """(1/N) Σₙ ∇ℓₙ²: ∇ℓₙ = (σ(zₙ) − yₙ) x̃ₙ for the loss of example n."""
        s = 1 / (1 + np.exp(-self.x_tilde @ theta))
        return np.mean(((s - self.y)[:, None] * self.x_tilde) ** 2, axis=0)

    def torch_problem(self, theta0):
        features = self.x.shape[1]
        layer = torch.nn.Linear(features, 1).double()
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(theta0[:features][None]))
            layer.bias.copy_(torch.from_numpy(theta0[features:]))
        x, y = torch.from_numpy(self.x), torch.from_numpy(self.y)[:, None]
        return layer, x, y


def theta_of(layer):
    return torch.cat([layer.weight.detach().reshape(-1), layer.bias.detach()]).numpy()


def run_ours(problem, theta0, steps, curvature="gauss_newton", **options):
    """HF in a plain loop; the Gauss–Newton matrix from the outputs (taken as s · z +
    (1 − s) · z.detach(): the true values, but a Jacobian s times the true one, so the
    curvature handed over is s² G with s² = ``problem.scale``) or the Hessian through the
    closure. ``preconditioner="diagonal"`` taps the layer (``prepare``)."""
    layer, x, y = problem.torch_problem(theta0)
    options = {"preconditioner": None, **options}
    optimizer = HessianFree(layer.parameters(), curvature=curvature, **options)
    if options["preconditioner"] == "diagonal":
        optimizer.prepare(recordable_layers(layer))
    root = problem.scale**0.5

    def closure():
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(layer(x), y)
        loss.backward()
        return loss

    def outputs_fn():
        z = layer(x)
        return z if root == 1 else root * z + (1 - root) * z.detach()

    def loss_of_outputs(z):
        return F.binary_cross_entropy_with_logits(z, y)

    path, dampings = [theta0.copy()], []
    for _ in range(steps):
        if curvature == "gauss_newton":
            optimizer.step(closure, model_outputs=ModelOutputs(outputs_fn, loss_of_outputs))
        else:
            optimizer.step(closure)
        path.append(theta_of(layer))
        dampings.append(optimizer.state[layer.weight]["damping"])
    return path, dampings, optimizer


def assert_paths_close(ours, theirs, rtol=1e-8):
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        error = np.abs(a - b).max()
        assert error <= rtol * max(np.abs(b).max(), 1.0), f"iterate {k}: error {error:.2e}"


THETA0 = np.array([0.5, -0.3, 0.8, 0.1, -0.6, 0.2])


@pytest.mark.parametrize(
    ("curvature", "preconditioner"),
    [("gauss_newton", None), ("hessian", None), ("gauss_newton", "diagonal")],
)
def test_follows_martens_on_logistic_regression(curvature, preconditioner):
    """Gauss–Newton (from the outputs) and the Hessian (through the closure) coincide on a
    GLM: both follow the transcription, and λ shrinks by 2/3 as ρ stays near 1. With the
    diagonal preconditioner (§4.7), M = ((1/N) Σ ∇ℓₙ² + λ)^¾ from the per-example
    gradients of the layer's tapped pass, as the transcription forms them."""
    problem = LogisticRegression()
    squared = problem.squared_gradients if preconditioner else None
    theirs, their_dampings = reference.hessian_free(
        THETA0, problem.f, problem.grad, problem.curvature, steps=8, squared_gradients=squared
    )
    ours, dampings, _ = run_ours(
        problem, THETA0, 8, curvature=curvature, preconditioner=preconditioner
    )
    assert_paths_close(ours, theirs)
    np.testing.assert_allclose(dampings, their_dampings, rtol=1e-12)
    assert dampings[-1] < (2 / 3) ** 7
    assert problem.f(theirs[-1]) < 0.8 * problem.f(THETA0)


@pytest.mark.parametrize(
    ("exponent", "fraction"), [(0.75, 1.0), (0.5, 1.0), (1.0, 1.0), (0.6, 1.0), (0.75, 0.25)]
)
def test_fit_feeds_the_diagonal_preconditioner_the_gradient_pass(exponent, fraction):
    """Under fit the step's gradient pass runs before step() (the trainer evaluates it
    first): the taps record it there, so M = ((1/k) Σ_{n≤k} ∇ℓₙ² + λ)^ξ comes from that
    pass (k = ⌈fraction · N⌉ of its examples) and fit follows the transcription with the
    preconditioner (not plain CG, which two CG iterations on these 6 parameters tell
    apart)."""
    problem = LogisticRegression()
    rows = math.ceil(fraction * len(problem.y))
    head = LogisticRegression()
    head.x_tilde, head.y = problem.x_tilde[:rows], problem.y[:rows]
    options = {"damping": 1e-3, "max_cg_iter": 2}
    theirs, _ = reference.hessian_free(
        THETA0,
        problem.f,
        problem.grad,
        problem.curvature,
        steps=8,
        squared_gradients=head.squared_gradients,
        xi=exponent,
        **options,
    )
    plain, _ = reference.hessian_free(
        THETA0, problem.f, problem.grad, problem.curvature, steps=8, **options
    )
    model = Sequential([Dense(1, "sigmoid", input_shape=(5,))]).double()
    with torch.no_grad():
        model.layers[0].kernel.copy_(torch.from_numpy(THETA0[:5, None]))
        model.layers[0].bias.copy_(torch.from_numpy(THETA0[5:]))
    optimizer = HessianFree(
        curvature_fraction=1.0,
        preconditioner_exponent=exponent,
        preconditioner_fraction=fraction,
        **options,
    )
    model.compile(optimizer=optimizer, loss="binary_crossentropy")
    ours = [THETA0.copy()]
    for _ in range(8):
        model.fit(problem.x, problem.y[:, None], batch_size=60, shuffle=False, verbose=0)
        layer = model.layers[0]
        ours.append(torch.cat([layer.kernel.detach()[:, 0], layer.bias.detach()]).numpy())
    assert_paths_close(ours, theirs)
    assert np.abs(theirs[2] - plain[2]).max() > 1e-3  # the preconditioner changes the path


def test_backtracking_damping_increase_and_line_search_on_a_poor_model():
    """Curvature 20 times too small: the model over-promises (ρ < 1/4, λ grows by 3/2),
    the late CG iterates overshoot (backtracking keeps an earlier one) and the line search
    shortens the step — all exactly as the transcription does."""
    problem = LogisticRegression(scale=0.05)
    theirs, their_dampings = reference.hessian_free(
        THETA0, problem.f, problem.grad, problem.curvature, steps=6, damping=0.01
    )
    ours, dampings, _ = run_ours(problem, THETA0, 6, damping=0.01)
    assert_paths_close(ours, theirs)
    np.testing.assert_allclose(dampings, their_dampings, rtol=1e-12)
    assert dampings[0] == pytest.approx(0.015)


def test_coupled_weight_decay_is_part_of_the_objective():
    problem = LogisticRegression(decay=0.1)
    theirs, _ = reference.hessian_free(THETA0, problem.f, problem.grad, problem.curvature, 5)
    ours, _, _ = run_ours(problem, THETA0, 5, weight_decay=0.1)
    assert_paths_close(ours, theirs)


def test_decoupled_weight_decay_shrinks_after_the_step():
    problem = LogisticRegression()
    plain, _, _ = run_ours(problem, THETA0, 1, lr=0.5)
    decayed, _, _ = run_ours(
        problem, THETA0, 1, lr=0.5, weight_decay=0.2, decoupled_weight_decay=True
    )
    np.testing.assert_allclose(decayed[1], plain[1] * (1 - 0.5 * 0.2), rtol=1e-12)


def test_clipping_shapes_the_gradient_of_the_quadratic_model():
    """One step with a single kept iterate and no line search solves (B + λI)p = −ĝ."""
    problem = LogisticRegression()
    g = problem.grad(THETA0)
    clipped = g * 0.01 / np.linalg.norm(g)
    expected = THETA0 - np.linalg.solve(problem.curvature(THETA0) + np.eye(6), clipped)
    ours, _, _ = run_ours(
        problem, THETA0, 1, global_clipnorm=0.01, backtrack_factor=1e3, line_search=False
    )
    np.testing.assert_allclose(ours[1], expected, rtol=1e-9)


def test_conjugate_gradient_keeps_the_iterates_martens_backtracks_over():
    assert sorted(storage_indices(1.3, 20)) == [2, 3, 4, 5, 7, 9, 11, 14, 18]
    rng = np.random.default_rng(0)
    m = rng.normal(size=(30, 30))
    a, g = m @ m.T / 30 + 0.5 * np.eye(30), rng.normal(size=30)
    theirs, last = reference.conjugate_gradient(a, g, 0.3 * g, 250, 5e-4, 1.3)
    matrix = torch.from_numpy(a)
    run = conjugate_gradient(
        lambda v: [matrix @ v[0]],
        [torch.from_numpy(g)],
        [torch.from_numpy(0.3 * g)],
        250,
        5e-4,
        1.3,
    )
    assert [k.index for k in run.kept] == [i for i, _ in theirs]
    for kept, (_, x) in zip(run.kept, theirs, strict=True):
        np.testing.assert_allclose(kept.x[0].numpy(), x, rtol=0, atol=1e-9 * np.abs(x).max())
        phi = 0.5 * x @ a @ x + g @ x
        assert kept.value == pytest.approx(phi, rel=1e-9)
        assert kept.linear == pytest.approx(g @ x, rel=1e-9)
    np.testing.assert_allclose(run.last[0].numpy(), last, rtol=0, atol=1e-9 * np.abs(last).max())
    assert run.reason == "relative progress below tolerance"


def test_conjugate_gradient_reuses_its_workspace_for_the_kept_iterates():
    """With a workspace, the kept iterates are copies in its tensors, the same ones run
    after run (remade when the shapes change), and equal the transcription's."""
    rng = np.random.default_rng(1)
    m = rng.normal(size=(12, 12))
    a, g = m @ m.T / 12 + 0.5 * np.eye(12), rng.normal(size=12)
    matrix, workspace = torch.from_numpy(a), []
    theirs, _ = reference.conjugate_gradient(a, g, np.zeros(12), 8, None, 1.3)

    def run(size):
        return conjugate_gradient(
            lambda v: [matrix[:size, :size] @ v[0]],
            [torch.from_numpy(g[:size])],
            [torch.zeros(size, dtype=torch.float64)],
            8,
            None,
            1.3,
            workspace=workspace,
        )

    first, second = run(12), run(12)
    for one, other, (_, x) in zip(first.kept[:-1], second.kept[:-1], theirs, strict=False):
        assert one.x[0] is other.x[0]
        np.testing.assert_allclose(other.x[0].numpy(), x, rtol=1e-12, atol=1e-14)
    assert len(workspace) == len(storage_indices(1.3, 8)) == len(second.kept) - 1
    assert run(5).kept[0].x[0].shape == (5,)


def test_without_backtracking_conjugate_gradient_keeps_the_last_iterate_only():
    """backtrack_factor None (HessianFree(backtracking=False)): no copies, the same last
    iterate and φ as the transcription."""
    rng = np.random.default_rng(2)
    m = rng.normal(size=(10, 10))
    a, g = m @ m.T / 10 + 0.5 * np.eye(10), rng.normal(size=10)
    _, last = reference.conjugate_gradient(a, g, np.zeros(10), 6, None, 1.3)
    matrix = torch.from_numpy(a)
    run = conjugate_gradient(
        lambda v: [matrix @ v[0]], [torch.from_numpy(g)], [torch.zeros(10).double()], 6, None, None
    )
    assert [k.index for k in run.kept] == [6] and run.kept[0].x is run.last
    np.testing.assert_allclose(run.last[0].numpy(), last, rtol=1e-12, atol=1e-14)
    assert run.kept[0].value == pytest.approx(0.5 * last @ a @ last + g @ last, rel=1e-9)


def test_backtracking_returns_the_best_iterate():
    """From the last kept iterate backwards while f falls (§4.6): here f is 5, 3, 1, 2, 4
    at the kept iterates in CG order, so it evaluates 4, 2, 1, then 3 (worse: stop) and
    returns the third."""
    values = [5.0, 3.0, 1.0, 2.0, 4.0]
    kept = [Iterate(i, [], 0.0, 0.0) for i in range(5)]
    seen = []

    def evaluate(iterate):
        seen.append(iterate.index)
        return values[iterate.index]

    assert backtrack(evaluate, kept) == (2, 1.0)
    assert seen == [4, 3, 2, 1]
    assert backtrack(lambda it: -float(it.index), kept) == (4, -4.0)  # the last is best


def _cg_problem(n=120, spread=4.0, seed=0):
    """A badly scaled SPD system: A = D^½ (Q Λ Qᵀ / n + I) D^½ with D over 10^±spread/2."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n, n))
    scales = np.logspace(-spread / 2, spread / 2, n)
    a = np.sqrt(scales)[:, None] * (m @ m.T / n + np.eye(n)) * np.sqrt(scales)[None, :]
    return torch.from_numpy(a), torch.from_numpy(rng.normal(size=n)), torch.from_numpy(scales)


def _cg(a, g, max_iter, tolerance, preconditioner=None):
    return conjugate_gradient(
        lambda v: [a @ v[0]],
        [g],
        [torch.zeros_like(g)],
        max_iter,
        tolerance,
        1.3,
        preconditioner=None if preconditioner is None else [preconditioner],
    )


def test_the_diagonal_preconditioner_speeds_conjugate_gradient_on_a_badly_scaled_system():
    """§4.7: with M = diag(A), CG gets much closer to the minimum of φ in 20 iterations;
    and it follows the transcription of preconditioned CG."""
    a, g, _ = _cg_problem()
    best = -0.5 * float(g @ torch.linalg.solve(a, g))
    plain = _cg(a, g, 20, None)
    preconditioned = _cg(a, g, 20, None, a.diagonal())
    assert (preconditioned.kept[-1].value - best) < 1e-3 * (plain.kept[-1].value - best)
    theirs, last = reference.conjugate_gradient(
        a.numpy(), g.numpy(), np.zeros(len(g)), 20, None, 1.3, a.diagonal().numpy()
    )
    np.testing.assert_allclose(preconditioned.last[0].numpy(), last, rtol=1e-9, atol=1e-12)
    assert [k.index for k in preconditioned.kept] == [i for i, _ in theirs]


def test_relative_progress_stopping_saves_iterations_for_little_loss():
    """§4.4: the rule stops CG long before 250 iterations, within 0.1% of the φ reached by
    running them all."""
    a, g, _ = _cg_problem(n=200, spread=2.0)
    full = _cg(a, g, 250, None)
    stopped = _cg(a, g, 250, 5e-4)
    assert full.iterations == 250 and stopped.iterations < 50
    assert stopped.reason == "relative progress below tolerance"
    assert stopped.kept[-1].value <= 0.999 * full.kept[-1].value


SWITCHES = {
    # ingredient → (what it buys, measured with it on and with it off: lower is better)
    "backtracking": "f after a step on a model that over-promises (late CG iterates overshoot)",
    "adapt_damping": "f after 6 steps from a damping 100 times too large",
    "warm_start_decay": "CG iterations over 6 steps",
}


def _switch_outcome(ingredient, on):
    if ingredient == "backtracking":
        problem = LogisticRegression(n=200, features=30, spread=1.0, scale=0.05)
        path, _, _ = run_ours(
            problem, np.zeros(31), 1, damping=1e-3, line_search=False, backtracking=on
        )
        return problem.f(path[-1])
    if ingredient == "adapt_damping":
        problem = LogisticRegression()
        path, _, _ = run_ours(problem, THETA0, 6, damping=100.0, adapt_damping=on)
        return problem.f(path[-1])
    problem = LogisticRegression(n=400)
    layer, x, y = problem.torch_problem(THETA0)
    optimizer = HessianFree(
        layer.parameters(), preconditioner=None, warm_start_decay=0.95 if on else 0.0
    )
    total = 0
    for _ in range(6):

        def closure():
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(layer(x), y)
            loss.backward()
            return loss

        optimizer.step(
            closure,
            model_outputs=ModelOutputs(
                lambda: layer(x), lambda z: F.binary_cross_entropy_with_logits(z, y)
            ),
        )
        total += optimizer.state[layer.weight]["cg_iterations"]
    return total


@pytest.mark.parametrize("ingredient", list(SWITCHES))
def test_each_switch_shows_what_its_ingredient_buys(ingredient):
    assert _switch_outcome(ingredient, True) < _switch_outcome(ingredient, False), SWITCHES[
        ingredient
    ]


def test_curvature_on_consecutive_sub_batches_follows_the_transcription():
    """§4.3: with curvature_fraction = ½ the Gauss–Newton matrix of step k is that of the
    rows of half k mod 2, while f and g stay on the whole minibatch."""
    problem = LogisticRegression()
    halves = [slice(0, 30), slice(30, 60)]
    calls = []

    def curvature(theta):
        rows = halves[len(calls) % 2]
        calls.append(rows)
        s = 1 / (1 + np.exp(-problem.x_tilde[rows] @ theta))
        x_rows = problem.x_tilde[rows]
        return (x_rows.T * (s * (1 - s))) @ x_rows / 30

    theirs, _ = reference.hessian_free(THETA0, problem.f, problem.grad, curvature, steps=4)
    layer, x, y = problem.torch_problem(THETA0)
    optimizer = HessianFree(layer.parameters(), preconditioner=None, curvature_fraction=0.5)

    def outputs(part):
        return ModelOutputs(
            lambda: layer(x[part]),
            lambda z: F.binary_cross_entropy_with_logits(z, y[part]),
            batch_size=len(x[part]),
            rows=lambda inner: outputs(slice(part.start + inner.start, part.start + inner.stop)),
        )

    def closure():
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(layer(x), y)
        loss.backward()
        return loss

    ours = [THETA0.copy()]
    for _ in range(4):
        optimizer.step(closure, model_outputs=outputs(slice(0, 60)))
        ours.append(theta_of(layer))
    assert_paths_close(ours, theirs)


def _classifier(seed):
    torch.manual_seed(seed)
    return Sequential([Dense(4, "tanh", input_shape=(3,)), Dense(3, "softmax")]).double()


def _regressor(seed):
    torch.manual_seed(seed)
    return Sequential([Dense(4, "tanh", input_shape=(3,)), Dense(2, "sigmoid")]).double()


CASES = {
    # loss name, model, targets, the loss the twin computes from its outputs (deepdescent's
    # own, so that both sides round alike: backtracking compares f at iterates whose values
    # agree to ~1e-12, and a different rounding of f can tip its choice)
    "softmax_cross_entropy": (
        "categorical_crossentropy",
        _classifier,
        lambda n: F.one_hot(torch.arange(n) % 3, 3).double(),
        losses.CategoricalCrossentropy(from_logits=True),
    ),
    # float32 values: the trainer stores float targets in float32.
    "sigmoid_mse": (
        "mse",
        _regressor,
        lambda n: torch.rand(n, 2).double(),
        losses.MeanSquaredError(),
    ),
    # Huber's H_L depends on the targets (1 inside |z − y| < δ, 0 outside): fit must hand
    # over the true ones.
    "linear_huber": (
        losses.Huber(delta=0.3),
        _regressor,
        lambda n: torch.rand(n, 2).double(),
        losses.Huber(delta=0.3),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fit_uses_the_gauss_newton_matrix_of_the_true_targets(case):
    """Through Model.fit HF is handed each step's outputs and the loss of the minibatch's
    own targets (its declared model_outputs), so it follows a plain loop given them."""
    loss, build, targets, twin_loss = CASES[case]
    torch.manual_seed(5)
    x = torch.randn(24, 3, dtype=torch.float64)
    y = targets(24)
    model, twin = build(0), build(0)
    whole = {"max_cg_iter": 30, "curvature_fraction": 1.0, "preconditioner": None}
    optimizer = HessianFree(**whole)
    model.compile(optimizer=optimizer, loss=loss)
    model.fit(x, y, epochs=3, shuffle=False, verbose=0)
    outputs_fn = twin.forward_pre_activation if case == "softmax_cross_entropy" else twin
    twin_optimizer = HessianFree(twin.parameters(), **whole)

    def closure():
        twin_optimizer.zero_grad()
        value = twin_loss(y, outputs_fn(x))
        value.backward()
        return value

    for _ in range(3):
        twin_optimizer.step(
            closure, model_outputs=ModelOutputs(lambda: outputs_fn(x), lambda z: twin_loss(y, z))
        )
    for ours, theirs in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-11)


def test_without_model_outputs_the_curvature_is_the_hessian_through_the_closure():
    """A plain loop that passes no model_outputs gets exact Hessian products through the
    closure (curvature="auto"), and curvature="gauss_newton" is refused before any move."""
    problem = LogisticRegression()
    path, _, _ = run_ours(problem, THETA0, 3, curvature="auto")
    assert problem.f(path[-1]) < problem.f(THETA0)
    layer, x, y = problem.torch_problem(THETA0)
    strict = HessianFree(layer.parameters(), curvature="gauss_newton")

    def closure():
        strict.zero_grad()
        loss = F.binary_cross_entropy_with_logits(layer(x), y)
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="needs the network outputs"):
        strict.step(closure)
    np.testing.assert_array_equal(theta_of(layer), THETA0)


def test_state_dict_round_trip_resumes_identically():
    problem = LogisticRegression()
    _, _, optimizer = run_ours(problem, THETA0, 2)
    layer = optimizer.param_groups[0]["params"][0]
    saved = copy.deepcopy(optimizer.state_dict())
    assert optimizer.state[layer]["damping"] == pytest.approx(4 / 9)
    path, _, _ = run_ours(problem, THETA0, 4)
    twin, x, y = problem.torch_problem(path[2])
    resumed = HessianFree(twin.parameters(), curvature="gauss_newton", preconditioner=None)
    resumed.load_state_dict(saved)

    def closure():
        resumed.zero_grad()
        loss = F.binary_cross_entropy_with_logits(twin(x), y)
        loss.backward()
        return loss

    for k in (3, 4):
        resumed.step(
            closure,
            model_outputs=ModelOutputs(
                lambda: twin(x), lambda z: F.binary_cross_entropy_with_logits(z, y)
            ),
        )
        np.testing.assert_array_equal(theta_of(twin), path[k])


def test_param_groups_scale_their_part_of_the_step():
    problem = LogisticRegression()
    layer, x, y = problem.torch_problem(THETA0)
    optimizer = HessianFree(
        [{"params": [layer.weight]}, {"params": [layer.bias], "lr": 0.0}], preconditioner=None
    )

    def closure():
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(layer(x), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    assert layer.bias.item() == THETA0[5]
    assert not np.allclose(layer.weight.detach().numpy().ravel(), THETA0[:5])
    with pytest.raises(ValueError, match="Invalid max_cg_iter"):
        optimizer.add_param_group(
            {"params": [torch.zeros(2, requires_grad=True)], "max_cg_iter": 3}
        )


def test_bad_closures_and_arguments():
    w = torch.nn.Parameter(torch.ones(3))
    optimizer = HessianFree([w], preconditioner=None)
    with pytest.raises(RuntimeError, match="re-evaluates the loss"):
        optimizer.step()

    def closure(value):
        def run():
            optimizer.zero_grad()
            loss = (w**2).sum() * value
            loss.backward()
            return loss

        return run

    with pytest.raises(ValueError, match="finite loss"):
        optimizer.step(closure(math.nan))
    with pytest.raises(ValueError, match="scalar"):
        optimizer.step(lambda: torch.ones(2))
    torch.testing.assert_close(w.detach(), torch.ones(3))


def test_config_round_trip():
    optimizer = HessianFree(damping=0.5, curvature="hessian", line_search=False)
    config = optimizer.get_config()
    assert HessianFree.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("damping", 0.0),
        ("curvature", "fisher"),
        ("max_cg_iter", 0),
        ("cg_tolerance", 0.0),
        ("curvature_fraction", 0.0),
        ("preconditioner", "full"),
        ("preconditioner_exponent", 1.5),
        ("preconditioner_fraction", 0.0),
        ("preconditioner_fraction", 1.5),
        ("backtracking", "yes"),
        ("adapt_damping", 1),
        ("warm_start_decay", 1.5),
        ("backtrack_factor", 1.0),
        ("lr", -1.0),
        ("weight_decay", -1.0),
        ("gradient_accumulation_steps", 2),
    ],
)
def test_invalid_hyperparameters_name_the_argument(argument, value):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        HessianFree(**{argument: value})


@pytest.mark.realdata
@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_compile_by_name_trains_the_seed_network_on_fashion_mnist():
    """784-32-10 (sigmoid, softmax), 5000 images in batches of 500, 2 epochs (20 steps):
    far above chance (10%)."""
    accuracy = seed_network_test_accuracy("hessian_free", batch_size=500)
    assert accuracy > 0.7, f"test accuracy {accuracy:.3f} after 2 epochs"
