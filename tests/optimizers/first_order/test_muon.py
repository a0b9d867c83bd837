"""Muon against torch.optim.Muon (matrices), torch.optim.AdamW (its fallback), and a
float64 NumPy transcription of Jordan et al. (2024); the Newton–Schulz iteration against
the singular value decomposition."""

from __future__ import annotations

import numpy as np
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
from reference import layers, muon

from deepdescent.optimizers.first_order.muon import NS_COEFFICIENTS, Muon, newton_schulz

PROBLEMS = [pytest.param(p, id=p.name) for p in layers.problems()]


def _quintic_power(s: np.ndarray, steps: int = 5) -> np.ndarray:
    a, b, c = NS_COEFFICIENTS
    for _ in range(steps):
        s = a * s + b * s**3 + c * s**5
    return s


def _band(lowest: float) -> tuple[float, float]:
    """Where five steps of the quintic send [lowest, 1]: its known band around 1."""
    image = _quintic_power(np.linspace(lowest, 1.0, 200_001))
    return float(image.min()), float(image.max())


def _matrix(rows=16, cols=32, seed=0):
    return torch.randn(
        rows, cols, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


def test_newton_schulz_maps_each_singular_value_by_the_quintic():
    """NS(G) = U p(S/‖G‖_F) Vᵀ exactly (in float64): the iteration acts on singular values."""
    g = _matrix()
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    expected = u @ torch.diag(torch.from_numpy(_quintic_power((s / s.norm()).numpy()))) @ vh
    torch.testing.assert_close(newton_schulz(g, dtype=None), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("dtype", "slack"), [(None, 1e-10), (torch.bfloat16, 0.03)])
@pytest.mark.parametrize("shape", [(16, 32), (32, 16), (24, 24)])
def test_newton_schulz_lands_in_the_band_around_u_vt(shape, dtype, slack):
    g = _matrix(*shape, seed=1)
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    lowest = (s.min() / s.norm()).item()
    assert lowest > 3e-3  # inside the range where the band below holds
    low, high = _band(lowest)
    assert low > 0.6 and high < 1.25
    ortho = newton_schulz(g, dtype=dtype).to(torch.float64)
    singular = torch.linalg.svdvals(ortho)
    assert singular.min() >= low - slack and singular.max() <= high + slack
    gap = torch.linalg.matrix_norm(ortho - u @ vh, ord=2)
    assert gap <= max(1 - low, high - 1) + slack


def test_newton_schulz_ignores_scale_and_transposes():
    g = _matrix(6, 10, seed=2)
    ortho = newton_schulz(g, dtype=None)
    torch.testing.assert_close(newton_schulz(1e3 * g, dtype=None), ortho, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(newton_schulz(g.T, dtype=None), ortho.T, rtol=1e-12, atol=1e-12)


TORCH_CONFIGS = [
    {"lr": 0.02},
    {"lr": 0.02, "nesterov": False},
    {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
    {"lr": 0.02, "adjust_lr_fn": "match_rms_adamw", "weight_decay": 0.0},
]


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("config", TORCH_CONFIGS, ids=str)
def test_matrices_match_torch_muon_and_vectors_torch_adamw(config, impl):
    adamw = {"lr": config["lr"] * 0.5, "weight_decay": config.get("weight_decay", 0.1)}
    assert_matches_torch(
        lambda p: Muon(p, **config, adamw_lr_ratio=0.5, **impl),
        lambda p: [torch.optim.Muon(p[:3], **config), torch.optim.AdamW(p[3:], **adamw)],
        shapes=[(5, 3), (3, 5), (8, 8), (5,), (3,)],
        idle_phase=None,
        loss=tilted,
    )


@pytest.mark.parametrize("impl", BODIES)
def test_a_group_can_send_matrices_to_adamw(impl):
    assert_matches_torch(
        lambda p: Muon([{"params": p[:1]}, {"params": p[1:], "use_muon": False}], lr=0.01, **impl),
        lambda p: [
            torch.optim.Muon(p[:1], lr=0.01),
            torch.optim.AdamW(p[1:], lr=0.01, weight_decay=0.1),
        ],
        steps=20,
        shapes=[(4, 6), (6, 2)],
        seed=1,
        idle_phase=None,
        loss=tilted,
    )


# Near a minimum Muon's steps keep their length and rattle around it, and the iteration
# multiplies rounding on tiny singular values by up to a⁵ ≈ 480 per step: two correct
# implementations then part at 1e-10 within 100 steps. These rates stay short of that.
JORDAN_LR = {"ill_conditioned": 0.005, "tiny_network": 0.02}


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("nesterov", [True, False])
def test_follows_jordan_in_float64(problem, nesterov, impl):
    """ε = 0 so Jordan's ‖G‖_F + ε and torch's max(‖G‖_F, ε) coincide."""
    lr = JORDAN_LR[problem.name]
    hyper = {"lr": lr, "momentum": 0.9, "nesterov": nesterov, "weight_decay": 0.01}
    reference = muon.muon(
        problem.layers0, problem.grad, **hyper, steps=STEPS, eps=0.0, adamw_lr=lr / 2
    )
    ours = layers.run_torch(
        problem,
        lambda p: Muon(p, **hyper, eps=0.0, ns_dtype=None, adamw_lr_ratio=0.5, **impl),
        STEPS,
    )
    layers.assert_paths_close(ours, reference)
    assert problem.loss(reference[-1]) < 0.75 * problem.loss(reference[0])


@pytest.mark.parametrize("impl", BODIES)
def test_convolution_kernels_are_orthogonalized_as_out_by_rest(impl):
    generator = torch.Generator().manual_seed(3)
    w0 = torch.randn(4, 2, 3, 3, generator=generator, dtype=torch.float64)
    g = torch.randn(4, 2, 3, 3, generator=generator, dtype=torch.float64)
    w = w0.clone().requires_grad_()
    w.grad = g.clone()
    Muon([w], lr=0.1, weight_decay=0.0, eps=0.0, ns_dtype=None, **impl).step()
    momentum = 0.95
    update = ((1 - momentum) * g + momentum * (1 - momentum) * g).reshape(4, 18).numpy()
    expected = w0.numpy() - 0.1 * muon.newton_schulz(update, eps=0.0).reshape(4, 2, 3, 3)
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_use_muon_true_refuses_vectors():
    with pytest.raises(ValueError, match=r"Invalid use_muon.*\(3,\)"):
        Muon([{"params": [torch.zeros(3, requires_grad=True)], "use_muon": True}])


def test_keras_default_lr_and_config_round_trip():
    optimizer = Muon(learning_rate=0.02, ns_dtype=None, adamw_betas=(0.9, 0.95))
    assert optimizer.learning_rate == 0.02 and Muon().learning_rate == 0.001
    assert_config_round_trips(optimizer)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"momentum": 1.0}, "momentum"),
        ({"ns_coefficients": (1.0, 2.0)}, "ns_coefficients"),
        ({"eps": -1.0}, "eps"),
        ({"ns_steps": 0}, "ns_steps"),
        ({"ns_steps": 100}, "ns_steps"),
        ({"adjust_lr_fn": "keras"}, "adjust_lr_fn"),
        ({"ns_dtype": "int8"}, "ns_dtype"),
        ({"use_muon": "yes"}, "use_muon"),
        ({"adamw_lr_ratio": -1.0}, "adamw_lr_ratio"),
        ({"adamw_betas": (0.9, 1.0)}, "adamw_betas"),
        ({"adamw_eps": -1.0}, "adamw_eps"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        Muon(**kwargs)


def test_matrix_and_fallback_state_round_trips_mid_run():
    """The contract table's tests use vectors; this one covers momentum buffers too."""
    optimizer, params = assert_resumes_identically(
        lambda p: Muon(p, lr=0.02), [(4, 3), (3,)], loss=tilted
    )
    assert set(optimizer.state[params[0]]) == {"momentum_buffer"}
    assert set(optimizer.state[params[1]]) == {"step", "exp_avg", "exp_avg_sq"}
