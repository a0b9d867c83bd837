"""The optimizer catalogue: ``torch.optim.Optimizer`` subclasses usable in any PyTorch
loop, and by name (``compile(optimizer="sgd")``) through :func:`get`."""

from __future__ import annotations

from typing import Any

import torch

from deepdescent.optimizers.adagrad import Adagrad
from deepdescent.optimizers.adam import Adam, AdamW
from deepdescent.optimizers.base import Optimizer
from deepdescent.optimizers.rmsprop import RMSprop
from deepdescent.optimizers.sgd import SGD
from deepdescent.utils._lookup import lookup

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "deserialize_optimizer",
    "get",
    "serialize",
]

CATALOGUE: dict[str, Any] = {
    "adagrad": Adagrad,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "sgd": SGD,
}


def get(identifier: str | dict[str, Any] | torch.optim.Optimizer) -> torch.optim.Optimizer:
    """An optimizer from a name (``"sgd"``), a config dict, or an optimizer (returned as is).

    A name or config gives an unbound specification with Keras's defaults.
    """
    if isinstance(identifier, torch.optim.Optimizer):
        return identifier
    if isinstance(identifier, str):
        return lookup("optimizer", identifier, CATALOGUE)()
    if isinstance(identifier, dict):
        return deserialize_optimizer(identifier)
    raise TypeError(
        f"optimizer must be a name, a config dict or an Optimizer, got {type(identifier).__name__}"
    )


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name", "config"}`` of a deepdescent optimizer."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize_optimizer(spec: dict[str, Any]) -> Optimizer:
    """Rebuild an (unbound) optimizer from :func:`serialize`'s output."""
    classes = {cls.__name__: cls for cls in CATALOGUE.values()}
    cls = lookup("optimizer", spec.get("class_name", ""), classes)
    return cls.from_config(spec.get("config") or {})
