"""Layers that merge a list of inputs (the functional API's joins): ``Add``,
``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``, ``Concatenate`` and
``Dot``, and Keras's functional shortcuts ``add([a, b])``, ``concatenate([a, b])`` ...
Element-wise merges broadcast as torch (and Keras) do."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from deepdescent.layers.base import Layer
from deepdescent.utils._checks import check_argument, is_integer

__all__ = [
    "Add",
    "Average",
    "Concatenate",
    "Dot",
    "Maximum",
    "Minimum",
    "Multiply",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "dot",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]


class _Merge(Layer):
    """Calls :meth:`merge` on a list of tensors."""

    arity: int | None = None  # an exact number of inputs, when the merge needs one

    def merge(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def call(self, inputs: Any) -> torch.Tensor:
        count = len(inputs) if isinstance(inputs, (list, tuple)) else 0
        wanted = f"{self.arity}" if self.arity else "at least 1"
        if count == 0 or (self.arity is not None and count != self.arity):
            raise ValueError(
                f"{type(self).__name__} must be called on a list of {wanted} tensors, got "
                f"{count if count else type(inputs).__name__}"
            )
        return self.merge(list(inputs))


class Add(_Merge):
    """The element-wise sum of the inputs (a residual connection: ``Add()([x, f(x)])``)."""

    def merge(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(torch.add, inputs)


class Subtract(_Merge):
    """``inputs[0] − inputs[1]``."""

    arity = 2

    def merge(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    """The element-wise product of the inputs."""

    def merge(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(torch.mul, inputs)


class Average(_Merge):
    """The element-wise mean of the inputs."""

    def merge(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(torch.add, inputs) / len(inputs)


class Maximum(_Merge):
    """The element-wise maximum of the inputs."""

    def merge(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(torch.maximum, inputs)


class Minimum(_Merge):
    """The element-wise minimum of the inputs."""

    def merge(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(torch.minimum, inputs)


class Concatenate(_Merge):
    """Joins the inputs along ``axis`` (the last by default)."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        check_argument("axis", axis, is_integer(axis), "an int")
        super().__init__(**kwargs)
        self.axis = int(axis)

    def merge(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(inputs, dim=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """The dot product of two inputs along ``axes`` (one axis, or one per input), sample by
    sample; ``normalize=True`` takes the cosine similarity instead."""

    arity = 2

    def __init__(self, axes: Any, normalize: bool = False, **kwargs: Any) -> None:
        pair = (axes, axes) if is_integer(axes) else tuple(axes)
        check_argument(
            "axes",
            axes,
            len(pair) == 2 and all(is_integer(a) for a in pair),
            "an int or a pair of ints",
        )
        super().__init__(**kwargs)
        self.axes = (int(pair[0]), int(pair[1]))
        self.normalize = bool(normalize)

    def merge(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        x, y = inputs
        if self.normalize:
            x = torch.nn.functional.normalize(x, dim=self.axes[0])
            y = torch.nn.functional.normalize(y, dim=self.axes[1])
        x = x.movedim(self.axes[0], -1)
        y = y.movedim(self.axes[1], 1)
        batch = x.shape[0]
        product = torch.bmm(x.reshape(batch, -1, x.shape[-1]), y.reshape(batch, y.shape[1], -1))
        out = product.reshape(batch, *x.shape[1:-1], *y.shape[2:])
        return out.unsqueeze(-1) if out.ndim == 1 else out

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": list(self.axes), "normalize": self.normalize}


def _shortcut(cls: type[_Merge]) -> Callable[..., Any]:
    def merge(inputs: list[Any], **kwargs: Any) -> Any:
        return cls(**kwargs)(inputs)

    merge.__name__ = merge.__qualname__ = cls.__name__.lower()
    merge.__doc__ = f"``{cls.__name__}(**kwargs)(inputs)``: Keras's functional shortcut."
    return merge


add = _shortcut(Add)
subtract = _shortcut(Subtract)
multiply = _shortcut(Multiply)
average = _shortcut(Average)
maximum = _shortcut(Maximum)
minimum = _shortcut(Minimum)
concatenate = _shortcut(Concatenate)
dot = _shortcut(Dot)
