"""Models: ``Sequential``, ``Model`` (any ``torch.nn.Module``) and ``load_model``."""

from __future__ import annotations

from deepdescent.models.model import Model
from deepdescent.models.saving import load_model
from deepdescent.models.sequential import Sequential

__all__ = ["Model", "Sequential", "load_model"]
