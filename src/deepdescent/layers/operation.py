"""``TensorOperation``: a function of :mod:`deepdescent.ops` as a node of a functional graph.

``x + residual`` or ``ops.mean(x, axis=1)`` on symbolic tensors records one of these; its
config names the operation (looked up in ``deepdescent.ops.OPERATIONS``, never arbitrary
code) and the node keeps the call's other arguments.
"""

from __future__ import annotations

from typing import Any

from deepdescent import ops
from deepdescent.layers.base import Layer
from deepdescent.utils._lookup import lookup

__all__ = ["TensorOperation"]


class TensorOperation(Layer):
    """Computes ``deepdescent.ops.<operation>(*args, **kwargs)``.

    Args:
        operation: the name of a function of :mod:`deepdescent.ops` (``"add"``).
    """

    def __init__(self, operation: str, **kwargs: Any) -> None:
        self.function = lookup("operation", operation, ops.OPERATIONS)
        super().__init__(**kwargs)
        self.operation = operation

    @property
    def type_name(self) -> str:
        """Keras's name for the operation's node: ``add`` → ``Add``, ``get_item`` →
        ``GetItem``."""
        return "".join(part.capitalize() for part in self.operation.split("_"))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "operation": self.operation}

    def extra_repr(self) -> str:
        return f"name={self.name!r}, operation={self.operation!r}"
