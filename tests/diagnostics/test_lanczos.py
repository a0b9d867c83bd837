"""Lanczos with full reorthogonalization and power iteration on explicit matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.diagnostics.lanczos import (
    lanczos_eigenpairs,
    lanczos_tridiagonal,
    ritz_quadrature,
)
from deepdescent.diagnostics.power_iteration import power_iteration, spectral_radius


def _symmetric(eigenvalues, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    return torch.from_numpy(q @ np.diag(eigenvalues) @ q.T)


def _matvec(a):
    return lambda v: a @ v


def _start(n, seed=1):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(n))


def test_the_tridiagonal_is_a_gauss_rule_exact_to_degree_2m_minus_1():
    """q₁ᵀAᵖq₁ = Σᵢ τᵢ θᵢᵖ for p ≤ 2m − 1 (Golub & Meurant), and not beyond."""
    a = _symmetric(np.linspace(-2.0, 3.0, 15))
    q = _start(15)
    q = q / q.norm()
    m = 4
    theta, tau = ritz_quadrature(*lanczos_tridiagonal(_matvec(a), q, m))
    moments = [float(q @ torch.linalg.matrix_power(a, p) @ q) for p in range(2 * m + 1)]
    for p in range(2 * m):
        assert float((tau * theta**p).sum()) == pytest.approx(moments[p], rel=1e-9, abs=1e-12)
    assert abs(float((tau * theta ** (2 * m)).sum()) - moments[2 * m]) > 1e-6


def test_n_steps_give_every_eigenvalue_with_its_exact_weight():
    eigenvalues = np.linspace(-2.0, 3.0, 9)
    a = _symmetric(eigenvalues)
    q = _start(9)
    q = q / q.norm()
    theta, tau = ritz_quadrature(*lanczos_tridiagonal(_matvec(a), q, 9))
    u = np.linalg.eigh(a.numpy())[1]
    np.testing.assert_allclose(theta.numpy(), eigenvalues, atol=1e-10)
    np.testing.assert_allclose(tau.numpy(), (u.T @ q.numpy()) ** 2, atol=1e-10)


def test_no_ghost_copies_of_converged_eigenvalues():
    """Many steps on a widely spread spectrum: without reorthogonalization the top
    eigenvalue reappears as spurious copies; with it the top five are the true five."""
    eigenvalues = np.concatenate([[100.0, 60.0, 30.0, 10.0, 5.0], np.linspace(-1.0, 1.0, 195)])
    a = _symmetric(eigenvalues)
    found = lanczos_eigenpairs(_matvec(a), _start(200), 5, "largest", 1e-12, 200, torch.Generator())
    np.testing.assert_allclose(found.values.numpy(), [100.0, 60.0, 30.0, 10.0, 5.0], rtol=1e-9)
    gram = found.vectors @ found.vectors.T
    torch.testing.assert_close(gram, torch.eye(5, dtype=torch.float64), atol=1e-8, rtol=0)


def test_a_repeated_eigenvalue_is_found_after_the_krylov_space_closes():
    a = torch.diag(torch.tensor([50.0, 50.0, 1.0, 1.0, 1.0, 1.0], dtype=torch.float64))
    generator = torch.Generator().manual_seed(0)
    found = lanczos_eigenpairs(_matvec(a), _start(6), 3, "largest", 1e-10, 6, generator)
    np.testing.assert_allclose(found.values.numpy(), [50.0, 50.0, 1.0], rtol=1e-12)
    assert found.converged


@pytest.mark.parametrize(("which", "expected"), [("largest", 2.0), ("smallest", -2.0)])
def test_power_iteration_on_a_saddle_returns_the_wanted_end(which, expected):
    """λ = ±2: plain power iteration oscillates between the two; the shifted one does not."""
    a = _symmetric([2.0, -2.0, 0.5, -0.5])
    starts = torch.stack([_start(4, seed) for seed in range(2)])
    found = power_iteration(_matvec(a), starts, 1, which, 1e-10, 1000)
    assert float(found.values[0]) == pytest.approx(expected, rel=1e-10)
    assert found.radius == pytest.approx(2.0, rel=1e-2)
    assert spectral_radius(_matvec(a), starts[0])[0] <= 2.0 + 1e-12
