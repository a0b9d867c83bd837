"""Hessian- and Gauss–Newton-vector products against matrices formed with torch.func."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call, hessian, jacrev

from deepdescent.autodiff import (
    GaussNewton,
    closure_hessian,
    closure_hessian_vector_product,
    dot,
    exact_hessian,
    flatten,
    gauss_newton_vector_product,
    hessian_operator,
    hessian_vector_product,
    unflatten,
)
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.training.gradient_path import make_objective
from deepdescent.utils import set_random_seed, to_categorical

TOL = {"rtol": 1e-8, "atol": 1e-8}


class TinyNet:
    """A 3-4-2 tanh network on 12 samples in float64, with its loss as a function of the
    flat parameter vector for torch.func."""

    def __init__(self, loss: str = "cross_entropy") -> None:
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)
        ).double()
        self.x = torch.randn(12, 3, dtype=torch.float64)
        self.labels = torch.randint(0, 2, (12,))
        self.targets = torch.randn(12, 2, dtype=torch.float64)
        self.loss = loss
        self.params = list(self.net.parameters())
        self.names = [name for name, _ in self.net.named_parameters()]

    def loss_of_outputs(self, z: torch.Tensor) -> torch.Tensor:
        if self.loss == "cross_entropy":
            return torch.nn.functional.cross_entropy(z, self.labels)
        return ((z - self.targets) ** 2).mean()  # F.mse_loss: pytorch#123996

    def outputs_at(self, flat: torch.Tensor) -> torch.Tensor:
        weights = dict(zip(self.names, unflatten(flat, self.params), strict=True))
        return functional_call(self.net, weights, (self.x,))

    def loss_at(self, flat: torch.Tensor) -> torch.Tensor:
        return self.loss_of_outputs(self.outputs_at(flat))

    def loss_fn(self) -> torch.Tensor:
        return self.loss_of_outputs(self.net(self.x))

    def closure(self) -> torch.Tensor:
        self.net.zero_grad()
        loss = self.loss_fn()
        loss.backward()
        return loss

    @property
    def flat(self) -> torch.Tensor:
        return flatten([p.detach() for p in self.params])

    def random_vectors(self, seed: int = 1) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        return [torch.randn(p.shape, dtype=p.dtype, generator=generator) for p in self.params]


LOSSES = ["cross_entropy", "mse"]


@pytest.mark.parametrize("loss", LOSSES)
def test_hessian_vector_product_equals_the_hessian_times_v(loss):
    problem = TinyNet(loss)
    vectors = problem.random_vectors()
    expected = hessian(problem.loss_at)(problem.flat) @ flatten(vectors)
    products = hessian_vector_product(problem.loss_fn, problem.params, vectors)
    torch.testing.assert_close(flatten(products), expected, **TOL)
    assert not any(p.requires_grad for p in products)


@pytest.mark.parametrize("loss", LOSSES)
def test_hessian_operator_reuses_one_graph_for_single_and_batched_products(loss):
    problem = TinyNet(loss)
    exact = hessian(problem.loss_at)(problem.flat)
    value, gradient, product = hessian_operator(problem.loss_fn, problem.params)
    torch.testing.assert_close(value, problem.loss_at(problem.flat), **TOL)
    torch.testing.assert_close(gradient, torch.func.grad(problem.loss_at)(problem.flat), **TOL)
    vectors = torch.randn(5, problem.flat.numel(), dtype=torch.float64)
    torch.testing.assert_close(product(vectors), vectors @ exact, **TOL)
    for vector in vectors:  # the graph is kept: products can be repeated
        torch.testing.assert_close(product(vector), exact @ vector, **TOL)
    with pytest.raises(ValueError, match="vector must have shape"):
        product(torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("loss", LOSSES)
def test_closure_hessian_vector_product_equals_the_hessian_times_v(loss):
    """Forward-over-reverse through a torch.optim closure: same H v, the parameters
    untouched, the gradient left in .grad."""
    problem = TinyNet(loss)
    start = problem.flat.clone()
    vectors = problem.random_vectors()
    loss_value, products = closure_hessian_vector_product(problem.closure, problem.params, vectors)
    expected = hessian(problem.loss_at)(start) @ flatten(vectors)
    torch.testing.assert_close(flatten(products), expected, **TOL)
    assert torch.equal(problem.flat, start)
    torch.testing.assert_close(loss_value.detach(), problem.loss_at(start), **TOL)
    gradient = torch.func.grad(problem.loss_at)(start)
    torch.testing.assert_close(flatten([p.grad for p in problem.params]), gradient, **TOL)


@pytest.mark.parametrize("loss", LOSSES)
def test_dense_hessians_equal_torch_func(loss):
    problem = TinyNet(loss)
    expected = hessian(problem.loss_at)(problem.flat)
    torch.testing.assert_close(exact_hessian(problem.loss_fn, problem.params), expected, **TOL)
    torch.testing.assert_close(closure_hessian(problem.closure, problem.params), expected, **TOL)


@pytest.mark.parametrize("loss", LOSSES)
def test_gauss_newton_vector_product_equals_jt_hl_j(loss):
    problem = TinyNet(loss)
    flat = problem.flat
    outputs = problem.outputs_at(flat)
    jacobian = jacrev(problem.outputs_at)(flat).reshape(outputs.numel(), flat.numel())
    loss_hessian = hessian(lambda z: problem.loss_of_outputs(z.reshape(outputs.shape)))(
        outputs.detach().reshape(-1)
    )
    gauss_newton = jacobian.T @ loss_hessian @ jacobian
    vectors = problem.random_vectors()
    products = gauss_newton_vector_product(
        lambda: problem.net(problem.x), problem.loss_of_outputs, problem.params, vectors
    )
    torch.testing.assert_close(flatten(products), gauss_newton @ flatten(vectors), **TOL)
    assert torch.linalg.eigvalsh(gauss_newton).min() > -1e-10  # PSD: L is convex in z


def _explicit_gauss_newton(problem):
    flat = problem.flat
    outputs = problem.outputs_at(flat)
    jacobian = jacrev(problem.outputs_at)(flat).reshape(outputs.numel(), flat.numel())
    loss_hessian = hessian(lambda z: problem.loss_of_outputs(z.reshape(outputs.shape)))(
        outputs.detach().reshape(-1)
    )
    return jacobian.T @ loss_hessian @ jacobian


@pytest.mark.parametrize("loss", LOSSES)
def test_gauss_newton_operator_reuses_its_graphs_for_many_products(loss):
    """Built once, the operator gives G v for several v (the graphs are kept), and the
    quadratic forms dᵢᵀ G dⱼ of a few directions."""
    problem = TinyNet(loss)
    calls = []

    def outputs_fn():
        calls.append(1)
        return problem.net(problem.x)

    operator = GaussNewton(outputs_fn, problem.loss_of_outputs, problem.params)
    _assert_gauss_newton_products(operator, problem, (1, 2, 3))
    assert len(calls) == 1  # one forward pass for all of it


def _assert_gauss_newton_products(operator, problem, seeds):
    """G v for random v of ``seeds`` and their quadratic forms equal the explicit G's."""
    gauss_newton = _explicit_gauss_newton(problem)
    directions = [problem.random_vectors(seed) for seed in seeds]
    for vectors in directions:
        torch.testing.assert_close(
            flatten(operator(vectors)), gauss_newton @ flatten(vectors), **TOL
        )
    flat = torch.stack([flatten(d) for d in directions])
    torch.testing.assert_close(
        operator.quadratic_form(directions), flat @ gauss_newton @ flat.T, **TOL
    )


@pytest.mark.parametrize("loss", LOSSES)
def test_gauss_newton_products_do_not_depend_on_the_probe(loss):
    """Built with a non-zero u to back-propagate, the operator gives the same G v and
    dᵢᵀ G dⱼ (Jᵀu is linear in u), and its build's backward pass reaches the outputs with
    that u (the pass a caller records statistics on)."""
    problem = TinyNet(loss)
    reached = []

    def outputs_fn():
        outputs = problem.net(problem.x)
        outputs.register_hook(lambda grad: reached.append(grad.detach().clone()))
        return outputs

    u = torch.randn_like(problem.net(problem.x).detach())
    operator = GaussNewton(outputs_fn, problem.loss_of_outputs, problem.params, probe=lambda z: u)
    _assert_gauss_newton_products(operator, problem, (1, 2))
    torch.testing.assert_close(reached[0], u, rtol=0, atol=0)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_hessian_in_chunks_equals_the_whole(chunk_size):
    """The rows batched a chunk at a time are the same matrix, and each chunk reports."""
    problem = TinyNet()
    reports = []
    computed = exact_hessian(
        problem.loss_fn,
        problem.params,
        chunk_size=chunk_size,
        progress=lambda done, total: reports.append((done, total)),
    )
    torch.testing.assert_close(computed, hessian(problem.loss_at)(problem.flat), **TOL)
    n = problem.flat.numel()
    assert reports[-1] == (n, n) and len(reports) == -(-n // chunk_size)
    with pytest.raises(ValueError, match="Invalid chunk_size: 0"):
        exact_hessian(problem.loss_fn, problem.params, chunk_size=0)


def test_mse_gauss_newton_differs_from_the_hessian():
    """The two curvatures differ by the residual term Σ rᵢ∇²zᵢ (a check that the test
    above is not comparing the Hessian with itself)."""
    problem = TinyNet("mse")
    vectors = problem.random_vectors()
    gn = gauss_newton_vector_product(
        lambda: problem.net(problem.x), problem.loss_of_outputs, problem.params, vectors
    )
    hv = hessian_vector_product(problem.loss_fn, problem.params, vectors)
    assert (flatten(gn) - flatten(hv)).abs().max() > 1e-3


MODEL_LOSSES = [
    ("softmax", "categorical_crossentropy", 3),
    ("sigmoid", "binary_crossentropy", 1),
    ("linear", "mse", 2),
]


def _model_problem(activation, loss, units):
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(20, 4)))
    labels = rng.integers(0, 3, size=20)
    y = {
        "categorical_crossentropy": torch.tensor(to_categorical(labels, 3)).double(),
        "binary_crossentropy": torch.tensor(labels % 2).double()[:, None],
        "mse": torch.tensor(rng.normal(size=(20, 2))),
    }[loss]
    model = Sequential(
        [Dense(5, activation="tanh", input_shape=(4,)), Dense(units, activation=activation)]
    ).double()
    model.compile(optimizer="sgd", loss=loss)
    return model, x, y


@pytest.mark.parametrize(("activation", "loss", "units"), MODEL_LOSSES)
def test_closure_hessian_through_a_models_objective(activation, loss, units):
    """The closure the trainer builds (autograd objective, softmax folded into the loss)."""
    model, x, y = _model_problem(activation, loss, units)
    objective = make_objective(model, "autograd")
    params = list(model.parameters())
    names = [name for name, _ in model.named_parameters()]

    def loss_at(flat):
        weights = dict(zip(names, unflatten(flat, params), strict=True))
        return model.loss(y, functional_call(model, weights, (x,)))

    expected = hessian(loss_at)(flatten([p.detach() for p in params]))
    computed = closure_hessian(lambda: objective.value_and_grad(x, y)[0], params)
    torch.testing.assert_close(computed, expected, **TOL)


def test_closure_hessian_vector_product_refuses_manual_backprop():
    model, x, y = _model_problem("softmax", "categorical_crossentropy", 3)
    objective = make_objective(model, "manual")
    params = list(model.parameters())
    with pytest.raises(RuntimeError, match=r"model\.backprop = 'autograd'"):
        closure_hessian_vector_product(
            lambda: objective.value_and_grad(x, y)[0], params, [torch.ones_like(p) for p in params]
        )


def test_parameters_without_curvature_give_zeros():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    unused = torch.ones(3, dtype=torch.float64, requires_grad=True)
    linear = torch.ones(2, dtype=torch.float64, requires_grad=True)
    vectors = [torch.ones(2, dtype=torch.float64), torch.ones(3, dtype=torch.float64)]
    products = hessian_vector_product(lambda: (w**3).sum(), [w, unused], vectors)
    torch.testing.assert_close(products[0], 6 * w.detach())
    assert torch.equal(products[1], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(exact_hessian(lambda: linear.sum(), [linear]), torch.zeros(2, 2).double())


def test_helpers_check_their_arguments():
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="one tensor per parameter"):
        hessian_vector_product(lambda: w.sum(), [w], [])
    with pytest.raises(ValueError, match=r"vectors\[0\] has shape \(3,\)"):
        hessian_vector_product(lambda: w.sum(), [w], [torch.zeros(3)])
    with pytest.raises(ValueError, match=r"scalar loss tensor, got \(2,\)"):
        hessian_vector_product(lambda: w * 2, [w], [torch.zeros(2)])
    with pytest.raises(ValueError, match="params is empty"):
        exact_hessian(lambda: w.sum(), [])
    with pytest.raises(ValueError, match="5 elements"):
        unflatten(torch.zeros(4), [torch.zeros(2), torch.zeros(3)])


def test_flat_helpers():
    tensors = [torch.arange(6.0).reshape(2, 3), torch.tensor([7.0])]
    flat = flatten(tensors)
    assert flat.tolist() == [0, 1, 2, 3, 4, 5, 7]
    back = unflatten(flat, tensors)
    assert all(torch.equal(a, b) for a, b in zip(back, tensors, strict=True))
    assert dot(tensors, tensors).item() == float(flat @ flat)
