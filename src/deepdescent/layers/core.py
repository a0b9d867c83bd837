"""Core layers: Dense, Activation, Dropout, Embedding."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from deepdescent import activations, config, initializers, regularizers
from deepdescent.layers.base import Layer, Shape
from deepdescent.utils._checks import check_argument, check_count

PreActivationHook = Callable[[Layer, torch.Tensor, torch.Tensor], None]

__all__ = ["Activation", "Dense", "Dropout", "Embedding", "initialize", "serialize_optional"]


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
            self.build_for(self.build_input_shape)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense needs inputs with a known last axis, got shape {input_shape}")
        fan_in = input_shape[-1]
        self.kernel = initialize(self.kernel_initializer, (fan_in, self.units), "kernel")
        self.add_penalty(self.kernel, self.kernel_regularizer)
        if self.use_bias:
            self.bias = initialize(self.bias_initializer, (self.units,), "bias")
            self.add_penalty(self.bias, self.bias_regularizer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs @ kernel + bias``."""
        if inputs.dim() == 2 and self.bias is not None:
            return torch.addmm(self.bias, inputs, self.kernel)
        outputs = inputs @ self.kernel
        return outputs if self.bias is None else outputs + self.bias

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self._config_activation(),
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_optional(initializers, self.kernel_initializer),
            "bias_initializer": serialize_optional(initializers, self.bias_initializer),
            "kernel_regularizer": serialize_optional(regularizers, self.kernel_regularizer),
            "bias_regularizer": serialize_optional(regularizers, self.bias_regularizer),
        }

    def extra_repr(self) -> str:
        return f"name={self.name!r}, units={self.units}, activation={self.activation_name!r}"


def initialize(initializer: Any, shape: tuple[int, ...], role: str) -> torch.nn.Parameter:
    """A new weight of ``shape`` (floatx) drawn by ``initializer``; ``role`` names it in
    the error when the initializer is missing."""
    if initializer is None:
        raise ValueError(f"Invalid {role}_initializer: None (expected an initializer)")
    return torch.nn.Parameter(initializer(shape, dtype=config.floatx_dtype()))


def serialize_optional(module: Any, obj: Any) -> Any:
    """``module.serialize(obj)``, or ``None`` for no object."""
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


class Embedding(Layer):
    """Maps integer token ids to dense vectors: ``output[..., :] = embeddings[ids]``.

    Inputs of shape ``(batch, ...)`` hold ids in ``[0, input_dim)``; outputs add an axis of
    ``output_dim``. Initialized U(−0.05, 0.05), as Keras.
    """

    embeddings: torch.nn.Parameter

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        mask_zero: bool = False,
        **kwargs: Any,
    ) -> None:
        check_count("input_dim", input_dim)
        check_count("output_dim", output_dim)
        check_argument(
            "mask_zero",
            mask_zero,
            mask_zero is False,
            "False: deepdescent's layers take no masks; pad and let the model learn the "
            "padding id, or cut sequences to one length",
        )
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = mask_zero

    def build(self, input_shape: Shape) -> None:
        self.embeddings = initialize(
            self.embeddings_initializer, (self.input_dim, self.output_dim), "embeddings"
        )
        self.add_penalty(self.embeddings, self.embeddings_regularizer)
        super().build(input_shape)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.embedding(inputs.long(), self.embeddings)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": serialize_optional(initializers, self.embeddings_initializer),
            "embeddings_regularizer": serialize_optional(regularizers, self.embeddings_regularizer),
            "mask_zero": self.mask_zero,
        }
