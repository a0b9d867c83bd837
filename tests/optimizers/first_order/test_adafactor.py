"""Adafactor against torch.optim.Adafactor (its ε₁ convention) and against a NumPy
transcription of Shazeer & Stern's Algorithms 4 and 5 (theirs)."""

from __future__ import annotations

import pytest
import torch
from optimizers._harness import (
    BODIES,
    STEPS,
    assert_config_round_trips,
    assert_matches_torch,
    assert_resumes_identically,
    tilted,
)
from reference import adafactor, layers

from deepdescent.optimizers.first_order.adafactor import Adafactor

PROBLEMS = [pytest.param(p, id=p.name) for p in layers.problems()]

FLOAT32, FLOAT64 = torch.float32, torch.float64
TORCH_CONFIGS = [
    ({"lr": 0.01}, FLOAT32),
    ({"lr": 0.05, "weight_decay": 0.1}, FLOAT32),
    ({"lr": 0.02, "d": 2.0, "beta2_decay": -0.5}, FLOAT32),
    ({"lr": 0.01, "eps": (1e-3, 1e-2)}, FLOAT32),  # ε₁ large enough for its placement to matter
    # ρ_t = 1/√t from t = 5 on. Steps this long amplify float32 rounding to 4e-5 in 30
    # steps (as much between torch's own two bodies), so this one runs in float64.
    ({"lr": 0.5}, FLOAT64),
]


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize(("config", "dtype"), TORCH_CONFIGS, ids=str)
def test_matches_torch_optim(config, dtype, impl):
    assert_matches_torch(
        lambda p: Adafactor(p, **config, **impl),
        lambda p: torch.optim.Adafactor(p, **config),
        shapes=[(5, 3), (3,), (2, 3, 4), ()],
        dtype=dtype,
        idle_phase=None,
        loss=tilted,
    )


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize(
    ("eps1", "convention"),
    [(1e-30, "paper"), (1e-2, "paper"), (1e-30, "torch")],
    ids=["paper", "paper-large-eps1", "torch-negligible-eps1"],
)
def test_algorithms_4_and_5_follow_the_paper(problem, eps1, convention, impl):
    """The paper's ε₁ placement follows the transcription exactly; torch's convention
    does too once ε₁ is negligible, which isolates the one place they differ."""
    reference = adafactor.adafactor(problem.layers0, problem.grad, STEPS, rho_max=0.05, eps1=eps1)
    ours = layers.run_torch(
        problem,
        lambda p: Adafactor(p, lr=0.05, eps=(eps1, 1e-3), eps_convention=convention, **impl),
        STEPS,
    )
    layers.assert_paths_close(ours, reference)
    assert problem.loss(reference[-1]) < 0.75 * problem.loss(reference[0])


def test_torch_convention_differs_when_eps1_matters():
    """A guard on the test above: with a large ε₁ the conventions part ways."""
    problem = layers.problems()[1]
    reference = adafactor.adafactor(problem.layers0, problem.grad, 10, rho_max=0.05, eps1=1e-2)
    ours = layers.run_torch(problem, lambda p: Adafactor(p, lr=0.05, eps=(1e-2, 1e-3)), 10)
    with pytest.raises(AssertionError, match="differs"):
        layers.assert_paths_close(ours, reference)


def test_matrix_state_is_factored():
    """An n × m matrix keeps n + m second-moment numbers; a vector keeps all of its own."""
    w, b = torch.zeros(300, 200, requires_grad=True), torch.zeros(200, requires_grad=True)
    optimizer = Adafactor([w, b])
    w.grad, b.grad = torch.randn(300, 200), torch.randn(200)
    optimizer.step()
    sizes = {k: v.numel() for k, v in optimizer.state[w].items() if torch.is_tensor(v)}
    assert sizes == {"row_var": 300, "col_var": 200}
    assert optimizer.state[b]["variance"].shape == (200,)


@pytest.mark.parametrize("impl", BODIES)
def test_step_is_relative_to_the_weights_and_clipped(impl):
    """α₁ = max(ε₂, RMS(X)) ρ₁ and RMS(Û) ≤ d: a zero matrix moves by ε₂ ρ₁ per entry
    (RMS), a large one by RMS(X) ρ₁, whatever the gradient's scale."""
    small, large = torch.zeros(4, 5, requires_grad=True), torch.full((4, 5), 30.0)
    large.requires_grad_()
    small.grad, large.grad = torch.randn(4, 5) * 1e3, torch.randn(4, 5) * 1e-3
    Adafactor([small, large], lr=0.01, **impl).step()
    rms = [p.detach().sub(s).pow(2).mean().sqrt().item() for p, s in ((small, 0.0), (large, 30.0))]
    assert rms[0] <= 1e-3 * 0.01 * (1 + 1e-6)
    assert rms[1] <= 30.0 * 0.01 * (1 + 1e-6) and rms[1] > 0.1 * 30.0 * 0.01


def test_keras_default_lr_and_config_round_trip():
    optimizer = Adafactor(learning_rate=0.01, eps_convention="paper")
    assert optimizer.learning_rate == 0.01 and Adafactor().learning_rate == 0.001
    assert_config_round_trips(optimizer)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"beta2_decay": 0.5}, "beta2_decay"),
        ({"eps": (-1.0, 1e-3)}, "eps"),
        ({"eps": (None, None)}, "eps"),
        ({"eps": 1e-3}, "eps"),
        ({"d": 0.5}, "d"),
        ({"eps_convention": "keras"}, "eps_convention"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        Adafactor(**kwargs)


def test_factored_state_round_trips_mid_run():
    """The contract table's tests use vectors; this one covers the factors of matrices."""
    assert_resumes_identically(lambda p: Adafactor(p, lr=0.05), [(4, 3), (2, 3, 5)])
