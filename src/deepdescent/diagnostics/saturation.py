r"""Saturated and dead units, layer by layer.

A sigmoid unit whose output sits near 0 or 1, or a tanh unit near ±1, passes almost no
gradient back (σ'(z) = σ(z)(1 − σ(z)) → 0): saturation stalls learning (Goodfellow et al.
§6.3.2, §8.2.5; Glorot & Bengio 2010 watched it in deep sigmoid networks). A ReLU unit
whose input is negative passes none at all, and one that is negative for every example
is *dead*: no example will move its incoming weights again.

For each hidden layer with a sigmoid, tanh or ReLU activation (deepdescent layers by their
``activation``; ``torch.nn.Sigmoid``/``Tanh``/``ReLU`` modules by their output), on a batch:

* ``saturated_fraction`` — the fraction of (example, unit) activations in the flat
  region: a sigmoid output within ``margin`` of 0 or 1; a tanh output within ``2·margin``
  of ±1 (the same region, tanh(z) = 2σ(2z) − 1); a ReLU output of 0;
* ``dead_fraction`` — the fraction of units in the flat region for every example.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from deepdescent.diagnostics._objective import as_batch
from deepdescent.layers.base import Layer
from deepdescent.utils._checks import check_argument, is_number

__all__ = ["LayerSaturation", "activation_kind", "saturation"]

_TORCH_ACTIVATIONS = {torch.nn.Sigmoid: "sigmoid", torch.nn.Tanh: "tanh", torch.nn.ReLU: "relu"}


def activation_kind(module: torch.nn.Module) -> str | None:
    """``"sigmoid"``, ``"tanh"`` or ``"relu"`` when ``module``'s output is that activation's."""
    if isinstance(module, Layer):
        name = getattr(module, "activation_name", None)
        return name if name in ("sigmoid", "tanh", "relu") else None
    return _TORCH_ACTIVATIONS.get(type(module))


def _flat_region(kind: str, outputs: torch.Tensor, margin: float) -> torch.Tensor:
    if kind == "sigmoid":
        return (outputs < margin) | (outputs > 1 - margin)
    if kind == "tanh":
        return outputs.abs() > 1 - 2 * margin
    return outputs <= 0


@dataclass
class LayerSaturation:
    """Saturation of one layer's units on a batch (see the module)."""

    layer: str
    activation: str
    units: int
    saturated_fraction: float
    dead_fraction: float


def saturation(model: torch.nn.Module, x: Any, margin: float = 0.01) -> list[LayerSaturation]:
    """Per layer, the fraction of saturated activations and of dead units on the batch
    ``x`` (the model in evaluation mode, restored after). Only inputs are needed."""
    check_argument(
        "model", type(model).__name__, isinstance(model, torch.nn.Module), "a torch.nn.Module"
    )
    check_argument("margin", margin, is_number(margin) and 0 < margin < 0.5, "a number in (0, 0.5)")
    first = next(model.parameters(), None)
    inputs = as_batch(
        x,
        "x",
        first.dtype if first is not None else None,
        first.device if first is not None else torch.device("cpu"),
    )
    found: list[LayerSaturation] = []

    def recorder(name: str, kind: str) -> Callable[..., None]:
        def record(module: torch.nn.Module, args: Any, outputs: torch.Tensor) -> None:
            flat = _flat_region(kind, outputs.detach().reshape(len(outputs), -1), margin)
            found.append(
                LayerSaturation(
                    name,
                    kind,
                    flat.shape[1],
                    float(flat.float().mean()),
                    float(flat.all(dim=0).float().mean()),
                )
            )

        return record

    handles = [
        module.register_forward_hook(recorder(name, kind))
        for name, module in model.named_modules()
        if (kind := activation_kind(module)) is not None
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return found
