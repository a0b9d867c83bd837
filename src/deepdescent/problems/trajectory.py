"""Run optimizers of the catalogue on a 2-D function and record every iterate.

Every optimizer starts from the same point with its own hyperparameters and is called as
``optimizer.step(closure)``, the one call that serves first-order methods (which read the
gradient the closure leaves) and the methods that re-evaluate the loss (Newton, CG,
(L-)BFGS, Hessian-free, SAM). The point after each ``step`` is recorded: for a line-search
method that is its accepted iterate, never a trial point of the search; a method that
moves one coordinate per step (coordinate descent) is recorded axis by axis.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch

from deepdescent.problems.function2d import Function2D
from deepdescent.utils._checks import check_argument, check_count
from deepdescent.utils._lookup import lookup

__all__ = ["Trajectory", "optimizer_names", "record_trajectories", "record_trajectory"]

Builder = Callable[..., torch.optim.Optimizer]


def _catalogue() -> dict[str, Builder]:
    """Optimizer name → constructor ``(params, **hyperparameters)``: the entries of the
    optimizer catalogue (:mod:`deepdescent.optimizers.catalogue`)."""
    from deepdescent.optimizers import catalogue

    return {name: entry.build for name, entry in catalogue.CATALOGUE.items()}


def optimizer_names() -> list[str]:
    """The optimizer names :func:`record_trajectory` accepts."""
    return sorted(_catalogue())


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """The path of one optimizer on one function.

    Attributes:
        optimizer: its catalogue name.
        settings: the hyperparameters it ran with.
        points: ``(n + 1, 2)`` float64 array, the start θ₀ then the iterate after each of
            the n steps taken.
        values: f at each point (the exact value, without gradient noise).
        diverged_at: the step after which θ or f(θ) was no longer finite (recording
            stopped there, so ``points`` ends at the last finite iterate), or ``None``.
    """

    optimizer: str
    settings: dict[str, Any]
    points: np.ndarray
    values: np.ndarray
    diverged_at: int | None = None

    @property
    def steps(self) -> int:
        """The number of steps recorded."""
        return len(self.points) - 1


def record_trajectory(
    function: Function2D,
    optimizer: str,
    steps: int,
    *,
    start: Sequence[float] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Trajectory:
    """Run ``optimizer`` for ``steps`` steps on ``function`` from ``start`` (default:
    the function's) and record its iterates.

    ``settings`` (hyperparameters by name) are added to ``function.settings(optimizer)``,
    the defaults that work on this function, and win over them.
    """
    return record_trajectories(
        function,
        [optimizer],
        steps,
        start=start,
        settings={optimizer: settings or {}},
    )[0]


def record_trajectories(
    function: Function2D,
    optimizers: Sequence[str],
    steps: int,
    *,
    start: Sequence[float] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Trajectory]:
    """:func:`record_trajectory` for each of ``optimizers``, all from the same start.

    ``settings`` maps an optimizer's name to its own hyperparameters. Every name, the
    start and every optimizer's hyperparameters are checked before any step is taken.
    """
    check_count("steps", steps)
    check_argument("optimizers", optimizers, len(optimizers) > 0, "at least one optimizer name")
    table = _catalogue()
    names = [_canonical(name, table) for name in optimizers]
    check_argument("optimizers", optimizers, len(set(names)) == len(names), "each name once")
    point = function.check_start(function.start if start is None else start)
    settings = {_canonical(name, table): dict(s) for name, s in (settings or {}).items()}
    unknown = sorted(set(settings) - set(names))
    check_argument("settings", unknown, not unknown, f"names among the optimizers {names}")
    runs = []
    for name in names:
        chosen = {**function.settings(name), **settings.get(name, {})}
        theta = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        runs.append((name, chosen, theta, _build(table[name], name, theta, chosen)))
    return [_run(function, name, chosen, theta, opt, steps) for name, chosen, theta, opt in runs]


def _canonical(name: str, table: Mapping[str, Builder]) -> str:
    """The catalogue's spelling of ``name`` (matched without case, ``_`` or ``-``)."""
    return lookup("optimizer", name, {key: key for key in table})


def _build(
    builder: Builder, name: str, theta: torch.Tensor, settings: dict[str, Any]
) -> torch.optim.Optimizer:
    try:
        return builder([theta], **settings)
    except TypeError as error:
        raise ValueError(f"Invalid settings for optimizer {name!r}: {settings} ({error})") from None


def _run(
    function: Function2D,
    name: str,
    settings: dict[str, Any],
    theta: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    steps: int,
) -> Trajectory:
    objective = function.objective()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective(theta)
        loss.backward()
        return loss

    points = [theta.detach().clone()]
    diverged_at = None
    for step in range(1, steps + 1):
        optimizer.step(cast(Any, closure))  # torch types the closure's loss as a float
        if not _finite(function, theta):
            diverged_at = step
            break
        points.append(theta.detach().clone())
    path = torch.stack(points)
    with torch.no_grad():
        values = function(path)
    return Trajectory(name, settings, path.numpy(), values.numpy(), diverged_at)


def _finite(function: Function2D, theta: torch.Tensor) -> bool:
    with torch.no_grad():
        return bool(torch.isfinite(theta).all()) and math.isfinite(float(function(theta)))
