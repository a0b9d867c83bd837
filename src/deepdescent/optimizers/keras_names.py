"""Keras's names for optimizer arguments that an optimizer does not take: refused with the
name to use instead, before the constructor runs.

Keras spells some hyperparameters differently from torch.optim: ``beta_1``/``beta_2`` are
torch's ``betas=(β₁, β₂)``, ``epsilon`` is ``eps``, RMSprop's ``rho`` is ``alpha``. An
optimizer that does not accept such a name (as a parameter or an alias) gets a
``TypeError`` that says which argument to use, rather than Python's bare "unexpected
keyword argument".
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

__all__ = ["check_keras_names"]

# Keras's name -> torch-style argument, in words.
_TORCH_NAMES = {
    "beta_1": "betas=(beta_1, beta_2)",
    "beta_2": "betas=(beta_1, beta_2)",
    "epsilon": "eps",
    "rho": "alpha (RMSprop's name for the decay of the squared-gradient average)",
}


@functools.cache
def _accepted(cls: type) -> frozenset[str] | None:
    """The keyword names ``cls(...)`` takes, following ``**kwargs`` handed on to the
    parent classes' constructors; ``None`` when it takes any name."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names.update(p.name for p in parameters)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            return frozenset(names)
    return None


def check_keras_names(cls: type, kwargs: Mapping[str, Any]) -> None:
    """Raise ``TypeError`` naming the torch-style argument for each Keras name in
    ``kwargs`` that ``cls`` does not take."""
    accepted = _accepted(cls)
    if accepted is None:
        return
    unknown = [name for name in kwargs if name in _TORCH_NAMES and name not in accepted]
    if unknown:
        hints = "; ".join(f"{name} -> {_TORCH_NAMES[name]}" for name in unknown)
        raise TypeError(
            f"{cls.__name__} got Keras's argument name(s) {', '.join(unknown)}, which it "
            f"does not take; use the torch.optim name(s): {hints}"
        )
