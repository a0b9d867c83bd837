"""What the optimizer tests share: the update bodies to run, the book's two test problems,
a runner that feeds an optimizer hand-derived gradients, a side-by-side run against
torch.optim, and the config and checkpoint round trips.

Imported as ``from optimizers._harness import ...`` (``tests`` is on the path).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch
from reference import chapter8, layers

Make = Callable[[list[torch.Tensor]], Any]  # params -> an optimizer, or a list of them
Loss = Callable[[list[torch.Tensor]], torch.Tensor]

STEPS = 100
PER_TENSOR = pytest.param({"foreach": False, "fused": False}, id="per-tensor")
FOREACH = pytest.param({"fused": False}, id="foreach")
#: The per-tensor specification and the multi-tensor body.
BODIES = [PER_TENSOR, FOREACH]
#: The same and the default, which is torch's fused kernel where the tensors allow.
BODIES_AND_FUSED = [PER_TENSOR, FOREACH, pytest.param({}, id="fused")]
SHAPES = ((5, 3), (3,), (2, 2, 2))


def book_problems(lrs: tuple[float, float] | None = None) -> list[Any]:
    """Chapter 8's ill-conditioned quadratic and tiny network as pytest parameters
    ``(f, theta0)``, or ``(f, theta0, lr)`` given one learning rate for each: a rate at
    which the iterates are not chaotic (a small change in θ₀ grows at most tenfold over
    100 steps), so that 1e-10 is a fair tolerance."""
    problems = layers.problems()
    if lrs is None:
        return [pytest.param(p.loss_and_grad, p.theta0, id=p.name) for p in problems]
    return [
        pytest.param(p.loss_and_grad, p.theta0, lr, id=p.name)
        for p, lr in zip(problems, lrs, strict=True)
    ]


def chapter8_problems() -> list[Any]:
    """``tests/reference/chapter8``'s ill-conditioned function and tiny network, whole
    (one tensor each), as pytest parameters ``(f, theta0, lr)``."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    network = chapter8.tiny_network(x, y, hidden=4)
    return [
        pytest.param(
            chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6), 0.009, id="ill_conditioned"
        ),
        pytest.param(network, rng.normal(scale=0.5, size=26), 0.1, id="tiny_network"),
    ]


def iterates(
    make_optimizer: Make,
    f: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta0: np.ndarray,
    steps: int = STEPS,
    split: int | None = None,
    repeats: int = 1,
    closure: bool = False,
) -> np.ndarray:
    """The float64 iterates θ₀, θ₁, … of ``make_optimizer(params)`` fed f's hand-derived
    gradient, so only the update rule is under test. θ is one tensor, or with ``split``
    two, ``θ[:split]`` and ``θ[split:]``, so that the multi-tensor body has a list.
    ``repeats`` calls of ``step`` make one iterate (gradient accumulation); with
    ``closure`` the gradient is set by a closure passed to ``step`` (SAM re-evaluates)."""
    pieces = [theta0] if split is None else [theta0[:split], theta0[split:]]
    params = [torch.tensor(piece, dtype=torch.float64, requires_grad=True) for piece in pieces]
    optimizer = make_optimizer(params)

    def set_gradient() -> torch.Tensor:
        value, grad = f(torch.cat([p.detach() for p in params]).numpy())
        grads = [grad] if split is None else np.split(grad, [split])
        for param, piece in zip(params, grads, strict=True):
            param.grad = torch.from_numpy(piece.copy())
        return torch.tensor(value, dtype=torch.float64)

    path = [theta0.copy()]
    for _ in range(steps):
        for _ in range(repeats):
            if closure:
                optimizer.step(set_gradient)
            else:
                set_gradient()
                optimizer.step()
        path.append(torch.cat([p.detach() for p in params]).numpy().copy())
    return np.array(path)


def assert_follows(ours: np.ndarray, reference: Any, rtol: float = 1e-10) -> None:
    """Every iterate within ``rtol`` of the reference's, relative to its largest entry."""
    reference = np.array(reference)
    assert ours.shape == reference.shape
    error = np.abs(ours - reference).max(axis=1)
    assert (error <= rtol * np.abs(reference).max(axis=1)).all(), f"max error {error.max():.2e}"


def wavy(params: list[torch.Tensor]) -> torch.Tensor:
    """sin(θ)θ² summed over the tensors: curved, with many critical points."""
    return sum((torch.sin(p) * p.pow(2)).sum() for p in params)


def tilted(params: list[torch.Tensor]) -> torch.Tensor:
    """:func:`wavy` plus 0.1θ, so that no gradient starts at 0."""
    return sum((torch.sin(p) * p.pow(2) + 0.1 * p).sum() for p in params)


def _listed(made: Any) -> list[Any]:
    return made if isinstance(made, list) else [made]


def _backward(optimizers: list[Any], params: list[torch.Tensor], loss: Loss) -> None:
    for optimizer in optimizers:
        optimizer.zero_grad()
    loss(params).backward()


def run_side_by_side(
    make_ours: Make,
    make_theirs: Make,
    *,
    steps: int = 30,
    shapes: Sequence[tuple[int, ...]] = SHAPES,
    dtype: torch.dtype | None = None,
    seed: int = 0,
    idle_phase: int | None = 2,
    loss: Loss = wavy,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Ours and theirs from the same random start (``dtype`` None: the default), stepped
    on ``loss``; returns both parameter lists. With ``idle_phase`` the second tensor has
    no gradient on the steps k ≡ idle_phase (mod 3), so step counts differ between
    tensors. ``make_theirs`` may return several optimizers, one per subset."""
    torch.manual_seed(seed)
    ours = [torch.randn(shape, dtype=dtype, requires_grad=True) for shape in shapes]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    runs = [(ours, _listed(make_ours(ours))), (theirs, _listed(make_theirs(theirs)))]
    for k in range(steps):
        for params, optimizers in runs:
            _backward(optimizers, params, loss)
            if idle_phase is not None and k % 3 == idle_phase:
                params[1].grad = None
            for optimizer in optimizers:
                optimizer.step()
    return ours, theirs


def assert_matches_torch(
    make_ours: Make, make_theirs: Make, rtol: float = 1e-6, atol: float = 1e-6, **run: Any
) -> None:
    """:func:`run_side_by_side`, then every parameter of ours close to torch's."""
    ours, theirs = run_side_by_side(make_ours, make_theirs, **run)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


def assert_config_round_trips(optimizer: Any) -> None:
    """The config survives JSON and rebuilds an optimizer with the same config."""
    config = json.loads(json.dumps(optimizer.get_config()))
    assert type(optimizer)(**config).get_config() == optimizer.get_config()


def assert_resumes_identically(
    make_optimizer: Make, shapes: Sequence[tuple[int, ...]], steps: int = 5, loss: Loss = wavy
) -> tuple[Any, list[torch.Tensor]]:
    """Train, save the state mid-run and train on; a twin loaded from the save must reach
    the same parameters exactly. Returns the first optimizer and its parameters."""
    torch.manual_seed(0)
    params = [torch.randn(shape, requires_grad=True) for shape in shapes]
    optimizer = make_optimizer(params)

    def train(opt: Any, ps: list[torch.Tensor]) -> None:
        for _ in range(steps):
            _backward([opt], ps, loss)
            opt.step()

    train(optimizer, params)
    saved = copy.deepcopy(optimizer.state_dict())
    twins = [p.detach().clone().requires_grad_() for p in params]
    train(optimizer, params)
    resumed = make_optimizer(twins)
    resumed.load_state_dict(saved)
    train(resumed, twins)
    for a, b in zip(params, twins, strict=True):
        assert torch.equal(a, b)
    return optimizer, params
