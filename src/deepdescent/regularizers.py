"""Weight penalties Ω(w) added to the cost: J̃(θ) = J(θ) + Σ_layers Ω(w) (Keras 3 semantics).

* L2 (weight decay): Ω(w) = λ‖w‖² = λ Σ w², gradient 2λw. Note Keras's convention has no ½,
  so its λ is half the α of the textbook's (α/2)‖w‖²;
* L1: Ω(w) = λ‖w‖₁ = λ Σ |w|, which drives weights to exactly zero;
* L1L2: both;
* OrthogonalRegularizer: pushes the rows (or columns) of a matrix towards orthogonality.

Each regularizer maps a weight tensor to a 0-d tensor on its device, differentiable in w.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from deepdescent.utils._config import deserialize as _deserialize
from deepdescent.utils._config import serialize as _serialize
from deepdescent.utils._lookup import lookup

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "OrthogonalRegularizer",
    "Regularizer",
    "deserialize",
    "get",
    "serialize",
]

RegularizerFunction = Callable[[torch.Tensor], torch.Tensor]


def _check_factor(argument: str, value: Any) -> float:
    """Keras's rule for penalty factors: a finite, non-negative number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{argument} must be a non-negative finite number, got {value!r}")
    return float(value)


class Regularizer:
    """Base class: ``penalty = regularizer(weight)``, a 0-d tensor."""

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """Ω(w) = l1·Σ|w| + l2·Σw². Terms whose factor is 0 are skipped."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _check_factor("l1", l1)
        self.l2 = _check_factor("l2", l2)

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        penalty = weight.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * weight.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * weight.square().sum()
        return penalty

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """Ω(w) = l1·Σ|w|."""

    def __init__(self, l1: float = 0.01):
        self.l1 = _check_factor("l1", l1)

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return self.l1 * weight.abs().sum()

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """Ω(w) = l2·Σw² = l2‖w‖², whose gradient is 2·l2·w."""

    def __init__(self, l2: float = 0.01):
        self.l2 = _check_factor("l2", l2)

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return self.l2 * weight.square().sum()

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Mean absolute cosine between distinct rows (``mode="rows"``) or columns of a matrix:

    Ω(W) = factor · ½ · Σ_{i≠j} |⟨ŵᵢ, ŵⱼ⟩| / (m(m − 1)/2),

    with ŵᵢ the L2-normalised rows (columns) and m their number; 0 exactly when they are
    mutually orthogonal.
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows"):
        self.factor = _check_factor("factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(f"mode must be 'rows' or 'columns', got {mode!r}")
        self.mode = mode

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        if weight.ndim != 2:
            raise ValueError(
                f"OrthogonalRegularizer needs a 2-D weight, got shape {tuple(weight.shape)}"
            )
        vectors = weight if self.mode == "rows" else weight.T
        unit = torch.nn.functional.normalize(vectors, dim=1)
        cosines = unit @ unit.T
        size = cosines.shape[0]
        off_diagonal = cosines.abs().sum() - cosines.diagonal().abs().sum()
        pairs = size * (size - 1) / 2.0
        return self.factor * 0.5 * off_diagonal / pairs if pairs else off_diagonal * 0.0

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


_CLASSES: dict[str, type[Regularizer]] = {
    cls.__name__: cls for cls in (L1, L1L2, L2, OrthogonalRegularizer)
}

# String identifiers build Keras's documented defaults; for "l1_l2" that is l1 = l2 = 0.01
# (the L1L2 class itself defaults to zeros, as in Keras).
_BY_NAME: dict[str, Callable[[], Regularizer]] = {
    "l1": L1,
    "l2": L2,
    "l1_l2": lambda: L1L2(l1=0.01, l2=0.01),
    "orthogonal_regularizer": OrthogonalRegularizer,
}


def get(
    identifier: str | Mapping[str, Any] | Regularizer | RegularizerFunction | None,
) -> Regularizer | RegularizerFunction | None:
    """Resolve a regularizer identifier.

    ``None`` → ``None`` (no penalty); ``"l1"``, ``"l2"``, ``"l1_l2"``,
    ``"orthogonal_regularizer"`` → that penalty with factor 0.01; a config dict →
    :func:`deserialize`; a ``Regularizer`` or callable ``fn(weight) -> 0-d tensor`` → itself.
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        return lookup("regularizer", identifier, _BY_NAME)()
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(
        "regularizer must be None, a name such as 'l2', a config dict, a Regularizer or a "
        f"callable weight -> Tensor; got {type(identifier).__name__}: {identifier!r}"
    )


def serialize(regularizer: Regularizer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` of a regularizer (JSON-safe)."""
    return _serialize(regularizer)


def deserialize(config: Mapping[str, Any]) -> Regularizer:
    """Rebuild a regularizer from :func:`serialize`'s output (only this module's classes)."""
    return _deserialize("regularizer", config, _CLASSES)
