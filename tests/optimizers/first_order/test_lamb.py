"""LAMB (You et al. 2020, Algorithm 2) against a NumPy transcription."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optimizers._harness import BODIES, STEPS, assert_config_round_trips
from reference import lamb, layers

from deepdescent.optimizers.first_order.lamb import Lamb

PROBLEMS = [pytest.param(p, id=p.name) for p in layers.problems()]
BETAS = (0.9, 0.99)


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_algorithm_2_follows_the_paper(problem, weight_decay, impl):
    reference = lamb.lamb(problem.layers0, problem.grad, 0.02, *BETAS, 1e-6, weight_decay, STEPS)
    ours = layers.run_torch(
        problem,
        lambda p: Lamb(p, lr=0.02, betas=BETAS, eps=1e-6, weight_decay=weight_decay, **impl),
        STEPS,
    )
    layers.assert_paths_close(ours, reference)
    assert problem.loss(reference[-1]) < 0.5 * problem.loss(reference[0])


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_the_scaling_function_clips_the_weight_norm(problem, impl):
    low, high = 0.6, 1.2  # both bind: the layers' norms range from 0.19 to 2.3 on these runs
    reference = lamb.lamb(
        problem.layers0,
        problem.grad,
        0.02,
        *BETAS,
        1e-6,
        0.01,
        STEPS,
        phi=lambda z: min(max(z, low), high),
    )
    ours = layers.run_torch(
        problem,
        lambda p: Lamb(
            p, lr=0.02, betas=BETAS, weight_decay=0.01, weight_norm_bounds=(low, high), **impl
        ),
        STEPS,
    )
    layers.assert_paths_close(ours, reference)


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_coupled_decay_passes_through_the_moments(problem, impl):
    """decoupled_weight_decay=False is LAMB without λ on the L2-penalised loss."""

    def l2_grad(x):
        return [g + 0.05 * w for g, w in zip(problem.grad(x), x, strict=True)]

    reference = lamb.lamb(problem.layers0, l2_grad, 0.02, *BETAS, 1e-6, 0.0, STEPS)
    ours = layers.run_torch(
        problem,
        lambda p: Lamb(
            p, lr=0.02, betas=BETAS, weight_decay=0.05, decoupled_weight_decay=False, **impl
        ),
        STEPS,
    )
    layers.assert_paths_close(ours, reference)


@pytest.mark.parametrize("impl", BODIES)
def test_each_layer_moves_by_lr_times_its_norm(impl):
    """The trust ratio makes ‖Δx‖ = η‖x‖ per layer, whatever the gradient's scale."""
    torch.manual_seed(0)
    params = [(torch.randn(5, 3) * s).requires_grad_() for s in (0.01, 1.0, 100.0)]
    before = [p.detach().clone() for p in params]
    for p, s in zip(params, (1e4, 1.0, 1e-4), strict=True):
        p.grad = torch.randn(5, 3) * s
    Lamb(params, lr=0.1, **impl).step()
    for p, b in zip(params, before, strict=True):
        moved = torch.linalg.vector_norm(p.detach() - b) / torch.linalg.vector_norm(b)
        assert moved.item() == pytest.approx(0.1, rel=1e-5)


@pytest.mark.parametrize("impl", BODIES)
def test_zero_layers_take_the_adam_step(impl):
    """‖x‖ = 0 leaves the ratio undefined (it would freeze the layer): it is taken as 1."""
    w = torch.zeros(2, requires_grad=True)
    w.grad = torch.tensor([3.0, -1.0])
    Lamb([w], lr=0.1, eps=0.0, **impl).step()
    torch.testing.assert_close(w.detach(), torch.tensor([-0.1, 0.1]))


def test_state_keeps_adam_moments_per_parameter():
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    optimizer = Lamb([w])
    w.grad = torch.full((3,), 2.0, dtype=torch.float64)
    optimizer.step()
    state = optimizer.state[w]
    assert state["step"] == 1
    np.testing.assert_allclose(state["exp_avg"].numpy(), 0.2)
    np.testing.assert_allclose(state["exp_avg_sq"].numpy(), 0.004)


def test_keras_defaults_and_config_round_trip():
    optimizer = Lamb(learning_rate=0.01, weight_norm_bounds=(0.0, 10.0))
    assert optimizer.learning_rate == 0.01 and Lamb().learning_rate == 0.001
    assert Lamb().get_config()["eps"] == 1e-6
    assert_config_round_trips(optimizer)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"betas": (1.0, 0.999)}, "betas"),
        ({"betas": (0.9,)}, "betas"),
        ({"eps": -1e-6}, "eps"),
        ({"weight_norm_bounds": (2.0, 1.0)}, "weight_norm_bounds"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -0.1}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        Lamb(**kwargs)
