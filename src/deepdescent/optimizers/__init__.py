"""The optimizers: ``torch.optim.Optimizer`` subclasses usable in any PyTorch loop, and
by name (``compile(optimizer="sgd")``) through :func:`get`, which reads the catalogue
(:mod:`deepdescent.optimizers.catalogue`, one entry per name)."""

from __future__ import annotations

from typing import Any

import torch

from deepdescent import schedules
from deepdescent.optimizers.base import Optimizer
from deepdescent.optimizers.catalogue import CATALOGUE, OptimizerInfo, classes, info, names
from deepdescent.optimizers.contract import ModelOutputs, TrainingNeeds
from deepdescent.optimizers.conventions import CONVENTIONS, PEERS
from deepdescent.optimizers.first_order.adabelief import AdaBelief
from deepdescent.optimizers.first_order.adadelta import Adadelta
from deepdescent.optimizers.first_order.adafactor import Adafactor
from deepdescent.optimizers.first_order.adagrad import Adagrad
from deepdescent.optimizers.first_order.adam import Adam, AdamW
from deepdescent.optimizers.first_order.adamax import Adamax
from deepdescent.optimizers.first_order.lamb import Lamb
from deepdescent.optimizers.first_order.lars import LARS
from deepdescent.optimizers.first_order.lion import Lion
from deepdescent.optimizers.first_order.muon import Muon
from deepdescent.optimizers.first_order.nadam import NAdam
from deepdescent.optimizers.first_order.radam import RAdam
from deepdescent.optimizers.first_order.rmsprop import RMSprop
from deepdescent.optimizers.first_order.rprop import Rprop
from deepdescent.optimizers.first_order.schedule_free import ScheduleFreeAdamW, ScheduleFreeSGD
from deepdescent.optimizers.first_order.sgd import SGD
from deepdescent.optimizers.second_order.bfgs import BFGS
from deepdescent.optimizers.second_order.conjugate_gradient import ConjugateGradient
from deepdescent.optimizers.second_order.coordinate_descent import CoordinateDescent
from deepdescent.optimizers.second_order.hessian_free import HessianFree
from deepdescent.optimizers.second_order.kfac import KFAC
from deepdescent.optimizers.second_order.lbfgs import LBFGS
from deepdescent.optimizers.second_order.newton import Newton
from deepdescent.optimizers.second_order.shampoo import Shampoo
from deepdescent.optimizers.wrappers.base import OptimizerWrapper
from deepdescent.optimizers.wrappers.continuation import Continuation
from deepdescent.optimizers.wrappers.lookahead import Lookahead
from deepdescent.optimizers.wrappers.sam import SAM
from deepdescent.utils._lookup import lookup

#: Keras's spelling of NAdam.
Nadam = NAdam

__all__ = [
    "BFGS",
    "CATALOGUE",
    "CONVENTIONS",
    "KFAC",
    "LARS",
    "LBFGS",
    "PEERS",
    "SAM",
    "SGD",
    "AdaBelief",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "ConjugateGradient",
    "Continuation",
    "CoordinateDescent",
    "HessianFree",
    "Lamb",
    "Lion",
    "Lookahead",
    "ModelOutputs",
    "Muon",
    "NAdam",
    "Nadam",
    "Newton",
    "Optimizer",
    "OptimizerInfo",
    "OptimizerWrapper",
    "RAdam",
    "RMSprop",
    "Rprop",
    "ScheduleFreeAdamW",
    "ScheduleFreeSGD",
    "Shampoo",
    "TrainingNeeds",
    "deserialize_optimizer",
    "get",
    "info",
    "is_serializable",
    "names",
    "schedules",
    "serialize",
]


def get(identifier: str | dict[str, Any] | torch.optim.Optimizer) -> torch.optim.Optimizer:
    """An optimizer from a name of the catalogue (``"sgd"``, ``"momentum"``), a config
    dict, or an optimizer (returned as is).

    A name or config gives an unbound specification with Keras's defaults (and the entry's
    preset: ``"momentum"`` is ``SGD(momentum=0.9)``).
    """
    if isinstance(identifier, torch.optim.Optimizer):
        return identifier
    if isinstance(identifier, str):
        return info(identifier).build()
    if isinstance(identifier, dict):
        return deserialize_optimizer(identifier)
    raise TypeError(
        f"optimizer must be a name, a config dict or an Optimizer, got {type(identifier).__name__}"
    )


def is_serializable(optimizer: torch.optim.Optimizer) -> bool:
    """Whether :func:`serialize` can describe ``optimizer`` (a deepdescent optimizer, or a
    wrapper of one); plain torch.optim optimizers have no config."""
    if isinstance(optimizer, OptimizerWrapper):
        return is_serializable(optimizer.base_optimizer)
    return isinstance(optimizer, Optimizer)


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name", "config"}`` of a deepdescent optimizer."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize_optimizer(spec: dict[str, Any]) -> Optimizer:
    """Rebuild an (unbound) optimizer from :func:`serialize`'s output."""
    cls = lookup("optimizer", spec.get("class_name", ""), classes())
    return cls.from_config(spec.get("config") or {})
