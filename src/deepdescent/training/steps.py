"""Keras's step API on a model: ``compute_loss``, ``compute_metrics`` and the default
``train_step``/``test_step``/``predict_step`` that a subclass may call with ``super()``.

``fit`` runs its own step (a closure the optimizer may re-evaluate, the hand-written
back-propagation when it can) unless the model overrides ``train_step``; then it calls
the override with Keras's ``data`` and reports what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from deepdescent.training.inputs import unpack

if TYPE_CHECKING:
    from deepdescent.models.model import Model

__all__ = [
    "compute_loss",
    "compute_metrics",
    "default_predict_step",
    "default_step",
    "default_test_step",
    "default_train_step",
    "flatten_logs",
    "overrides",
]


def default_step(function: Any) -> Any:
    """Mark a ``Model`` method as Keras's default step (see :func:`overrides`)."""
    function.default_step = True
    return function


def overrides(model: Any, method: str) -> bool:
    """Whether ``model``'s class replaces the default ``method`` (``train_step`` ...)."""
    return not getattr(getattr(type(model), method, None), "default_step", False)


def compute_loss(model: Model, y: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """The compiled loss of ``(y, y_pred)`` plus the layers' own terms (``add_loss``,
    weight penalties); an error when there is neither."""
    terms = []
    if model.loss is not None:
        if y is None:
            raise ValueError("y is required to compute the compiled loss")
        terms.append(model.loss(y, y_pred, sample_weight))
    if model.has_regularizers():
        terms.append(model.regularization_loss())
    if not terms:
        raise ValueError(
            "There is no loss to compute: pass loss= to compile, or add terms with add_loss"
        )
    return torch.stack([torch.as_tensor(t).reshape(()) for t in terms]).sum()


def compute_metrics(model: Model, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, Any]:
    """Update the compiled metrics with a batch; every metric's result, the loss's first."""
    if y is not None:
        for metric in model.compiled_metrics:
            metric.update_state(y, y_pred, sample_weight=sample_weight)
    return {m.name: m.result() for m in model.metrics}


def _count(x: Any) -> int:
    while not isinstance(x, torch.Tensor):
        x = next(iter(x.values())) if isinstance(x, Mapping) else x[0]
    return len(x)


def default_train_step(model: Model, data: Any) -> dict[str, Any]:
    """Keras's default step: forward, ``compute_loss``, backward, ``optimizer.apply``."""
    x, y, sample_weight = unpack(data)
    model.zero_grad(set_to_none=True)
    y_pred = model(x, training=True)
    loss = compute_loss(model, y, y_pred, sample_weight)
    loss.backward()
    weights = model.trainable_weights
    optimizer: Any = model.optimizer
    optimizer.apply([w.value.grad for w in weights], weights)
    model.loss_tracker.update_state(loss.detach(), sample_weight=_count(x))
    return compute_metrics(model, y, y_pred, sample_weight)


def default_test_step(model: Model, data: Any) -> dict[str, Any]:
    """Keras's default evaluation step: forward, ``compute_loss``, metrics."""
    x, y, sample_weight = unpack(data)
    with torch.no_grad():
        y_pred = model(x, training=False)
        loss = compute_loss(model, y, y_pred, sample_weight)
    model.loss_tracker.update_state(loss, sample_weight=_count(x))
    return compute_metrics(model, y, y_pred, sample_weight)


def default_predict_step(model: Model, data: Any) -> Any:
    """The outputs on a batch's inputs."""
    x, _, _ = unpack(data)
    with torch.no_grad():
        return model(x, training=False)


def flatten_logs(logs: Mapping[str, Any]) -> dict[str, float]:
    """A step's returned logs as floats, nested dicts (Keras's ``compile_metrics``)
    flattened into the top level."""
    flat: dict[str, float] = {}
    for name, value in logs.items():
        if isinstance(value, Mapping):
            flat.update(flatten_logs(value))
        else:
            flat[name] = float(value)
    return flat
