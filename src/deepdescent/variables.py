"""``Variable``: Keras's handle on a weight or a metric's state, around a torch tensor.

A layer's weights are ``torch.nn.Parameter``s (so any torch code uses them as they are);
``layer.trainable_weights`` hands them out as :class:`Variable`s, as Keras does, whose
``.value`` is the parameter itself: ``[v.value.grad for v in model.trainable_weights]``
reads the gradients that ``loss.backward()`` left. A variable also takes part in torch
operations directly (``torch.matmul(x, variable)``, ``variable * 2``): it hands torch its
tensor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["Variable", "unwrap"]


def unwrap(value: Any) -> Any:
    """The tensor of a :class:`Variable`; anything else as it is."""
    return value.value if isinstance(value, Variable) else value


def _unwrap_all(value: Any) -> Any:
    if isinstance(value, Variable):
        return value.value
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap_all(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap_all(v) for k, v in value.items()}
    return value


class Variable:
    """A named tensor with Keras's ``assign`` methods.

    Args:
        value: the tensor held (a parameter for weights, a plain tensor for metric state);
            it is used as it is, never copied.
        name: the variable's name (``"kernel"``); ``path`` adds the owner's name.
        path: ``"dense/kernel"``; defaults to ``name``.
    """

    def __init__(self, value: torch.Tensor, name: str = "variable", path: str | None = None):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"value must be a torch.Tensor, got {type(value).__name__}")
        self._value = value
        self.name = name
        self.path = path or name

    @property
    def value(self) -> torch.Tensor:
        """The tensor itself (for a weight, the ``torch.nn.Parameter``)."""
        return self._value

    @property
    def trainable(self) -> bool:
        return bool(self._value.requires_grad)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._value.shape)

    @property
    def dtype(self) -> str:
        return str(self._value.dtype).removeprefix("torch.")

    @property
    def ndim(self) -> int:
        return self._value.ndim

    def numpy(self) -> np.ndarray:
        return self._value.detach().cpu().numpy().copy()

    def _like(self, value: Any) -> torch.Tensor:
        held = self._value
        return torch.as_tensor(unwrap(value)).detach().to(device=held.device, dtype=held.dtype)

    def assign(self, value: Any) -> Variable:
        """Set the value in place (shape, dtype and device kept)."""
        with torch.no_grad():
            self._value.copy_(self._like(value))
        return self

    def assign_add(self, value: Any) -> Variable:
        with torch.no_grad():
            self._value.add_(self._like(value))
        return self

    def assign_sub(self, value: Any) -> Variable:
        with torch.no_grad():
            self._value.sub_(self._like(value))
        return self

    @classmethod
    def __torch_function__(
        cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        return func(*_unwrap_all(args), **_unwrap_all(kwargs or {}))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def __float__(self) -> float:
        return float(self._value)

    def __int__(self) -> int:
        return int(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __getitem__(self, key: Any) -> torch.Tensor:
        return self._value[key]

    def __repr__(self) -> str:
        return f"<Variable path={self.path!r} shape={self.shape} dtype={self.dtype}>"

    def __add__(self, other: Any) -> Any:
        return self._value + unwrap(other)

    def __radd__(self, other: Any) -> Any:
        return unwrap(other) + self._value

    def __sub__(self, other: Any) -> Any:
        return self._value - unwrap(other)

    def __rsub__(self, other: Any) -> Any:
        return unwrap(other) - self._value

    def __mul__(self, other: Any) -> Any:
        return self._value * unwrap(other)

    def __rmul__(self, other: Any) -> Any:
        return unwrap(other) * self._value

    def __truediv__(self, other: Any) -> Any:
        return self._value / unwrap(other)

    def __rtruediv__(self, other: Any) -> Any:
        return unwrap(other) / self._value

    def __matmul__(self, other: Any) -> Any:
        return self._value @ unwrap(other)

    def __rmatmul__(self, other: Any) -> Any:
        return unwrap(other) @ self._value

    def __pow__(self, other: Any) -> Any:
        return self._value ** unwrap(other)

    def __neg__(self) -> Any:
        return -self._value

    def __lt__(self, other: Any) -> Any:
        return self._value < unwrap(other)

    def __le__(self, other: Any) -> Any:
        return self._value <= unwrap(other)

    def __gt__(self, other: Any) -> Any:
        return self._value > unwrap(other)

    def __ge__(self, other: Any) -> Any:
        return self._value >= unwrap(other)
