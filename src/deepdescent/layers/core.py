"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from deepdescent import activations, initializers, regularizers
from deepdescent.layers.base import Layer, Shape

PreActivationHook = Callable[[Layer, torch.Tensor, torch.Tensor], None]

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "Reshape"]


class Input(Layer):
    """Declares the per-sample input shape, as ``keras.Input(shape=...)``; passes data on."""

    def __init__(self, shape: Any = None, *, name: str | None = None, **kwargs: Any) -> None:
        shape = kwargs.pop("input_shape", shape)
        if shape is None:
            raise ValueError("Input needs shape, the per-sample input shape, e.g. (784,)")
        super().__init__(name=name, input_shape=shape, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list((self.build_input_shape or (None,))[1:])}


def _registered_name(activation: Callable[..., torch.Tensor]) -> str | None:
    try:
        return activations.serialize(activation)
    except ValueError:
        return None


class _ActivatedLayer(Layer):
    """A layer whose output goes through an activation function, ``f(pre_activation(x))``.

    The trainer may ask for the output before the activation (:meth:`call_pre_activation`)
    to fuse a final softmax or sigmoid with the cross-entropy that follows it; hooks
    registered with :meth:`register_pre_activation_hook` see every such output, whichever
    way the layer was called.
    """

    def __init__(self, activation: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.activation_name = _registered_name(self.activation)
        # An OrderedDict, as torch keeps hooks: RemovableHandle holds a weak reference to it.
        self._pre_activation_hooks: OrderedDict[int, PreActivationHook] = OrderedDict()

    def pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        """The layer's output before its activation (the identity here)."""
        return inputs

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        """:meth:`pre_activation`, seen by the pre-activation hooks."""
        outputs = self.pre_activation(inputs)
        for hook in self._pre_activation_hooks.values():
            hook(self, inputs, outputs)
        return outputs

    def register_pre_activation_hook(self, hook: PreActivationHook) -> RemovableHandle:
        """Call ``hook(layer, inputs, pre_activation_outputs)`` whenever the layer computes
        its output before the activation; ``handle.remove()`` ends it.

        A module's forward hook sees the output *after* the activation, and is skipped
        when the trainer folds a final softmax into the loss; this one sees z itself.
        """
        handle = RemovableHandle(self._pre_activation_hooks)
        self._pre_activation_hooks[handle.id] = hook
        return handle

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(self.call_pre_activation(inputs))

    def _config_activation(self) -> str:
        return activations.serialize(self.activation)


class Activation(_ActivatedLayer):
    """Applies an activation function: ``Activation("relu")``."""

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(activation, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self._config_activation()}


class Dense(_ActivatedLayer):
    """Fully connected layer: ``output = activation(inputs @ kernel + bias)``.

    The kernel has Keras's layout ``(input_dim, units)``, so ``get_weights`` returns what
    Keras returns. Defaults as Keras: Glorot-uniform kernel, zero bias.
    """

    kernel: torch.nn.Parameter

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"Invalid units: {units!r} (expected a positive int)")
        super().__init__(activation, **kwargs)
        self.units = units
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.bias: torch.nn.Parameter | None = None
        if self.build_input_shape is not None:
            self.build(self.build_input_shape)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense needs inputs with a known last axis, got shape {input_shape}")
        fan_in = input_shape[-1]
        self.kernel = torch.nn.Parameter(_initialize(self.kernel_initializer, (fan_in, self.units)))
        if self.use_bias:
            self.bias = torch.nn.Parameter(_initialize(self.bias_initializer, (self.units,)))
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs @ kernel + bias``."""
        if inputs.dim() == 2 and self.bias is not None:
            return torch.addmm(self.bias, inputs, self.kernel)
        outputs = inputs @ self.kernel
        return outputs if self.bias is None else outputs + self.bias

    def regularization_losses(self) -> list[torch.Tensor]:
        terms = []
        if self.kernel_regularizer is not None:
            terms.append(self.kernel_regularizer(self.kernel))
        if self.bias_regularizer is not None and self.bias is not None:
            terms.append(self.bias_regularizer(self.bias))
        return terms

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self._config_activation(),
            "use_bias": self.use_bias,
            "kernel_initializer": _serialize_optional(initializers, self.kernel_initializer),
            "bias_initializer": _serialize_optional(initializers, self.bias_initializer),
            "kernel_regularizer": _serialize_optional(regularizers, self.kernel_regularizer),
            "bias_regularizer": _serialize_optional(regularizers, self.bias_regularizer),
        }

    def extra_repr(self) -> str:
        return f"name={self.name!r}, units={self.units}, activation={self.activation_name!r}"


def _initialize(initializer: Any, shape: tuple[int, ...]) -> torch.Tensor:
    if initializer is None:
        raise ValueError("Dense needs kernel_initializer and bias_initializer, got None")
    return initializer(shape)


def _serialize_optional(module: Any, obj: Any) -> Any:
    return None if obj is None else module.serialize(obj)


class Dropout(Layer):
    """Zeroes each input with probability ``rate`` while training, scaling the rest by
    ``1 / (1 − rate)`` (inverted dropout); the identity at inference."""

    def __init__(self, rate: float, **kwargs: Any) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Invalid rate: {rate!r} (expected 0 <= rate < 1)")
        super().__init__(**kwargs)
        self.rate = float(rate)

    def scaled_mask(self, inputs: torch.Tensor) -> torch.Tensor:
        """A fresh mask of kept units, each 0 or ``1 / (1 − rate)``, shaped as ``inputs``."""
        keep = 1.0 - self.rate
        return torch.empty_like(inputs).bernoulli_(keep).div_(keep)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return inputs
        return inputs * self.scaled_mask(inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


class Flatten(Layer):
    """Flattens every axis but the batch axis: ``(n, 28, 28) → (n, 784)``."""

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(d or 0 for d in rest)
        return (input_shape[0], size)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.flatten(1)


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        shape = tuple(target_shape)
        if (
            not shape
            or sum(d == -1 for d in shape) > 1
            or any(not isinstance(d, int) or (d <= 0 and d != -1) for d in shape)
        ):
            raise ValueError(
                f"Invalid target_shape: {target_shape!r} (expected positive ints, at most one -1)"
            )
        self.target_shape = shape

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if -1 not in self.target_shape:
            return (input_shape[0], *self.target_shape)
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        known = math.prod(d for d in self.target_shape if d != -1)
        return (
            input_shape[0],
            *(
                math.prod(d or 0 for d in rest) // known if d == -1 else d
                for d in self.target_shape
            ),
        )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.reshape(inputs.shape[0], *self.target_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}
