"""The trainer: the objective, the minibatch iterator, the gradient path and the loop that
``Model.fit``, ``evaluate`` and ``predict`` run (see :mod:`deepdescent.training.loop` for
the path a minibatch takes)."""

from deepdescent.training.backprop import BackpropObjective, supports_backprop
from deepdescent.training.data import (
    BatchIterator,
    ExampleOrder,
    as_tensor,
    check_batch_size,
    structure_length,
    take,
)
from deepdescent.training.gradient_path import GradientPath, choose_gradient_path, make_objective
from deepdescent.training.inputs import DataOptions, convert_structure
from deepdescent.training.loop import (
    Trainer,
    bind_optimizer,
    evaluate,
    fit,
    predict,
    predict_on_batch,
    test_on_batch,
    train_on_batch,
    verbose_level,
)
from deepdescent.training.numerics import (
    NonFiniteError,
    NonFinitePolicy,
    check_finite,
)
from deepdescent.training.objective import Objective

__all__ = [
    "BackpropObjective",
    "BatchIterator",
    "DataOptions",
    "ExampleOrder",
    "GradientPath",
    "NonFiniteError",
    "NonFinitePolicy",
    "Objective",
    "Trainer",
    "as_tensor",
    "bind_optimizer",
    "check_batch_size",
    "check_finite",
    "choose_gradient_path",
    "convert_structure",
    "evaluate",
    "fit",
    "make_objective",
    "predict",
    "predict_on_batch",
    "structure_length",
    "supports_backprop",
    "take",
    "test_on_batch",
    "train_on_batch",
    "verbose_level",
]
