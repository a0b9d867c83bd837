"""LARS (You, Gitman & Ginsburg 2017, Algorithm 1) against a NumPy transcription."""

from __future__ import annotations

import pytest
import torch
from optimizers._harness import BODIES, STEPS, assert_config_round_trips
from reference import lars, layers

from deepdescent.optimizers.first_order.lars import LARS

PROBLEMS = [pytest.param(p, id=p.name) for p in layers.problems()]


def _poly(lr0: float):
    """The paper's polynomial decay of the global rate, γ₀ (1 − t/T)², over 2·STEPS."""
    return lambda t: lr0 * (1 - t / (2 * STEPS)) ** 2


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize(("momentum", "weight_decay"), [(0.9, 0.01), (0.0, 0.0)])
def test_algorithm_1_follows_the_paper(problem, momentum, weight_decay, impl):
    hyper = {"momentum": momentum, "weight_decay": weight_decay, "trust_coefficient": 0.02}
    reference = lars.lars(problem.layers0, problem.grad, _poly(1.0), **hyper, steps=STEPS)
    ours = layers.run_torch(problem, lambda p: LARS(p, lr=_poly(1.0), **hyper, **impl), STEPS)
    layers.assert_paths_close(ours, reference)
    assert problem.loss(reference[-1]) < 0.5 * problem.loss(reference[0])


def _fixed_gradients(shapes, steps, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        [torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]
        for _ in range(steps)
    ]


def _drive(optimizer, params, gradients):
    for grads in gradients:
        for param, grad in zip(params, grads, strict=True):
            param.grad = grad.clone()
        optimizer.step()


def _replay(sequence):
    """A ``grad`` for the reference that replays fixed gradients, one per call."""
    it = iter(sequence)
    return lambda _: [next(it).numpy()]


@pytest.mark.parametrize("impl", BODIES)
def test_excluded_biases_take_plain_momentum_steps(impl):
    """exclude_bias_and_norm: the vector gets neither trust ratio nor decay (torch's
    momentum SGD, equal to the paper's form at constant γ); the matrix keeps both."""
    start = _fixed_gradients([(3, 4), (4,)], 1, seed=5)[0]
    gradients = _fixed_gradients([(3, 4), (4,)], 20)
    ours = [t.clone().requires_grad_() for t in start]
    hyper = {"lr": 0.5, "momentum": 0.9, "weight_decay": 0.1, "trust_coefficient": 0.01}
    _drive(LARS(ours, exclude_bias_and_norm=True, **hyper, **impl), ours, gradients)

    bias = [start[1].clone().requires_grad_()]
    _drive(torch.optim.SGD(bias, lr=0.5, momentum=0.9), bias, [[g[1]] for g in gradients])
    torch.testing.assert_close(ours[1], bias[0], rtol=1e-12, atol=1e-12)

    matrix = lars.lars(
        [start[0].numpy()],
        _replay([g[0] for g in gradients]),
        lambda t: 0.5,
        momentum=0.9,
        weight_decay=0.1,
        trust_coefficient=0.01,
        steps=20,
    )
    torch.testing.assert_close(ours[0].detach().numpy(), matrix[-1][0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", BODIES)
def test_a_group_without_adaptation_is_torch_momentum_sgd(impl):
    start = _fixed_gradients([(3, 4), (4,)], 1, seed=6)[0]
    gradients = _fixed_gradients([(3, 4), (4,)], 20, seed=1)
    ours = [t.clone().requires_grad_() for t in start]
    theirs = [t.clone().requires_grad_() for t in start]
    optimizer = LARS(
        [{"params": ours, "lars_adaptation": False}],
        lr=0.1,
        momentum=0.9,
        weight_decay=0.05,
        **impl,
    )
    _drive(optimizer, ours, gradients)
    _drive(torch.optim.SGD(theirs, lr=0.1, momentum=0.9, weight_decay=0.05), theirs, gradients)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", BODIES)
def test_decoupled_decay_shrinks_first_and_leaves_the_ratio_to_the_gradient(impl):
    w0, g = torch.tensor([3.0, 4.0], dtype=torch.float64), torch.tensor([0.0, 2.0])
    w = w0.clone().requires_grad_()
    w.grad = g.to(torch.float64)
    opt = LARS(
        [w],
        lr=0.5,
        momentum=0.0,
        weight_decay=0.2,
        trust_coefficient=0.1,
        decoupled_weight_decay=True,
        **impl,
    )
    opt.step()
    shrunk = w0 * (1 - 0.5 * 0.2)
    expected = shrunk - 0.5 * 0.1 * shrunk.norm() / 2.0 * g
    torch.testing.assert_close(w.detach(), expected)


@pytest.mark.parametrize("impl", BODIES)
def test_zero_layers_take_a_plain_step(impl):
    """‖w‖ = 0 leaves λ undefined (it would freeze the layer): the step is γ g."""
    w = torch.zeros(3, requires_grad=True)
    w.grad = torch.tensor([1.0, -2.0, 0.5])
    LARS([w], lr=0.1, momentum=0.0, **impl).step()
    torch.testing.assert_close(w.detach(), torch.tensor([-0.1, 0.2, -0.05]))


def test_defaults_and_config_round_trip():
    optimizer = LARS(learning_rate=2.0, momentum=0.8, exclude_bias_and_norm=True)
    assert optimizer.learning_rate == 2.0 and LARS().learning_rate == 1.0
    assert_config_round_trips(optimizer)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"momentum": -0.1}, "momentum"),
        ({"momentum": 1.0}, "momentum"),
        ({"trust_coefficient": 0.0}, "trust_coefficient"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        LARS(**kwargs)
