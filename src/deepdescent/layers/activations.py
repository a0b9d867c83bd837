"""Activation functions as layers, with Keras's arguments and defaults: ``ReLU``,
``LeakyReLU`` (slope 0.3), ``PReLU`` (a learned slope per unit, He et al. 2015), ``ELU``
and ``Softmax``."""

from __future__ import annotations

import functools
from typing import Any

import torch

from deepdescent import activations, initializers, regularizers
from deepdescent.layers.base import Layer, Shape
from deepdescent.layers.core import _ActivatedLayer, initialize, serialize_optional
from deepdescent.utils._checks import check_argument, check_non_negative, is_integer, is_number

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax"]


class ReLU(Layer):
    """φ(x) = min(x, max_value) for x ≥ threshold, negative_slope·(x − threshold) below."""

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_value is not None:
            check_non_negative("max_value", max_value)
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = check_non_negative("negative_slope", negative_slope)
        check_argument("threshold", threshold, is_number(threshold), "a finite number")
        self.threshold = float(threshold)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return activations.relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(Layer):
    """φ(x) = x for x ≥ 0, ``negative_slope``·x below (Keras's default slope 0.3;
    ``alpha`` is its older name)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        negative_slope = kwargs.pop("alpha", negative_slope)
        super().__init__(**kwargs)
        self.negative_slope = check_non_negative("negative_slope", negative_slope)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.leaky_relu(inputs, self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(Layer):
    """φ(x) = max(x, 0) + α ⊙ min(x, 0) with α learned, one per unit (He et al. 2015);
    ``shared_axes`` (counted from 1) share one α along those axes (e.g. ``(1, 2)``: one
    per channel of an image)."""

    alpha: torch.nn.Parameter

    def __init__(
        self,
        alpha_initializer: Any = "zeros",
        alpha_regularizer: Any = None,
        shared_axes: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        axes = (
            ()
            if shared_axes is None
            else ((shared_axes,) if is_integer(shared_axes) else tuple(shared_axes))
        )
        check_argument(
            "shared_axes",
            shared_axes,
            all(is_integer(a) and a >= 1 for a in axes),
            "None, or axes counted from 1",
        )
        self.shared_axes = tuple(int(a) for a in axes)

    def build(self, input_shape: Shape) -> None:
        shape = [1 if i + 1 in self.shared_axes else d for i, d in enumerate(input_shape[1:])]
        if any(d is None for d in shape):
            raise ValueError(
                f"PReLU needs a known length on every axis it does not share, got input shape "
                f"{tuple(input_shape)} with shared_axes={self.shared_axes}"
            )
        dims = tuple(int(d) for d in shape if d is not None)
        self.alpha = initialize(self.alpha_initializer, dims, "alpha")
        self.add_penalty(self.alpha, self.alpha_regularizer)
        super().build(input_shape)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.relu(inputs) - self.alpha * torch.relu(-inputs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "alpha_initializer": serialize_optional(initializers, self.alpha_initializer),
            "alpha_regularizer": serialize_optional(regularizers, self.alpha_regularizer),
            "shared_axes": list(self.shared_axes) or None,
        }


class ELU(Layer):
    """φ(x) = x for x > 0, α(exp(x) − 1) below (Clevert et al. 2016)."""

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = check_non_negative("alpha", alpha)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.elu(inputs, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_ActivatedLayer):
    """softmax along ``axis``; on the last axis (the default) a cross-entropy that follows
    takes its inputs as logits, as it does for ``Activation("softmax")``."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        check_argument("axis", axis, is_integer(axis), "an int")
        activation = "softmax" if axis == -1 else functools.partial(activations.softmax, axis=axis)
        super().__init__(activation, **kwargs)
        self.axis = int(axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
