"""Recurrent layers (Goodfellow et al., *Deep Learning*, ch. 10) with Keras's arguments,
weight layout and defaults.

Inputs are ``(batch, steps, features)``. Each layer projects every step's input at once
(``x W + b``), then runs its cell along the steps, in the book's notation:

* ``SimpleRNN``: h⁽ᵗ⁾ = tanh(b + W x⁽ᵗ⁾ + U h⁽ᵗ⁻¹⁾)  (eq. 10.8);
* ``LSTM`` (§10.10.1; gates in Keras's and torch's order i, f, c, o): i = σ(·), f = σ(·),
  o = σ(·), s⁽ᵗ⁾ = f ⊙ s⁽ᵗ⁻¹⁾ + i ⊙ tanh(·), h⁽ᵗ⁾ = o ⊙ tanh(s⁽ᵗ⁾); the forget gate's bias
  starts at 1 (``unit_forget_bias``, Jozefowicz et al. 2015), as Keras;
* ``GRU`` (§10.10.2, Cho et al. 2014, gates z, r, h as Keras; ``reset_after=True``, the
  Keras 3 and cuDNN form): z = σ(·), r = σ(·),
  h̃ = tanh(W_h x + b_h + r ⊙ (U_h h⁽ᵗ⁻¹⁾ + b'_h)), h⁽ᵗ⁾ = z ⊙ h⁽ᵗ⁻¹⁾ + (1 − z) ⊙ h̃.

Weights are Keras's: ``kernel`` (features, gates·units), ``recurrent_kernel`` (units,
gates·units, orthogonal at the start), ``bias`` (gates·units; the GRU's is (2,
3·units), input and recurrent biases). ``dropout`` and ``recurrent_dropout`` drop the
same input and state units at every step of a sequence (Gal & Ghahramani 2016), as Keras.
"""

from __future__ import annotations

from typing import Any

import torch

from deepdescent import activations, initializers, regularizers
from deepdescent.layers.base import Layer, Shape
from deepdescent.layers.core import initialize, serialize_optional
from deepdescent.utils._checks import check_argument, check_count

__all__ = ["GRU", "LSTM", "SimpleRNN"]

State = list[torch.Tensor]


def _check_rate(name: str, value: Any) -> float:
    check_argument(
        name, value, isinstance(value, (int, float)) and 0.0 <= value < 1.0, "0 <= rate < 1"
    )
    return float(value)


class _Recurrent(Layer):
    """Shared by the recurrent layers: arguments, weights, the loop over steps."""

    gates = 1
    state_count = 1

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        **kwargs: Any,
    ) -> None:
        check_argument(
            "stateful",
            stateful,
            stateful is False,
            "False: state is not carried from batch to batch; pass initial_state instead",
        )
        super().__init__(**kwargs)
        self.units = check_count("units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = _check_rate("dropout", dropout)
        self.recurrent_dropout = _check_rate("recurrent_dropout", recurrent_dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)  # Keras's speed hint; the loop here is the same either way
        self.bias: torch.nn.Parameter | None = None
        if self.build_input_shape is not None:
            self.build_for(self.build_input_shape)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} needs inputs of shape (batch, steps, features) with "
                f"known features, got {tuple(input_shape)}"
            )
        width = self.gates * self.units
        self.kernel = initialize(self.kernel_initializer, (int(input_shape[-1]), width), "kernel")
        self.recurrent_kernel = initialize(
            self.recurrent_initializer, (self.units, width), "recurrent"
        )
        self.add_penalty(self.kernel, self.kernel_regularizer)
        self.add_penalty(self.recurrent_kernel, self.recurrent_regularizer)
        if self.use_bias:
            self.bias = torch.nn.Parameter(self.initial_bias())
            self.add_penalty(self.bias, self.bias_regularizer)
        super().build(input_shape)

    def initial_bias(self) -> torch.Tensor:
        return initialize(self.bias_initializer, (self.gates * self.units,), "bias").data

    def input_projection(self, inputs: torch.Tensor) -> torch.Tensor:
        """x⁽ᵗ⁾ W (+ b) for every step at once: (batch, steps, gates·units)."""
        projected = inputs @ self.kernel
        return projected if self.bias is None else projected + self.bias

    def step(self, projected: torch.Tensor, state: State) -> State:
        """One step of the cell: the new state (h first) from x⁽ᵗ⁾W + b and the state."""
        raise NotImplementedError

    def _dropout_mask(self, like: torch.Tensor, rate: float) -> torch.Tensor | None:
        if not self.training or rate == 0.0:
            return None
        keep = 1.0 - rate
        return torch.empty_like(like).bernoulli_(keep).div_(keep)

    def _initial_state(self, inputs: torch.Tensor, initial_state: Any) -> State:
        if initial_state is None:
            zeros = inputs.new_zeros(inputs.shape[0], self.units)
            return [zeros] * self.state_count
        states = (
            list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        )
        check_argument(
            "initial_state",
            f"{len(states)} tensors",
            len(states) == self.state_count,
            f"{self.state_count} tensors of shape (batch, {self.units})",
        )
        return [torch.as_tensor(s, dtype=inputs.dtype, device=inputs.device) for s in states]

    def call(self, inputs: torch.Tensor, initial_state: Any = None) -> Any:
        if inputs.ndim != 3:
            raise ValueError(
                f"{type(self).__name__} needs inputs of shape (batch, steps, features), got "
                f"{tuple(inputs.shape)}"
            )
        if self.go_backwards:
            inputs = inputs.flip(1)
        input_mask = self._dropout_mask(inputs[:, 0], self.dropout)
        if input_mask is not None:
            inputs = inputs * input_mask.unsqueeze(1)
        projected = self.input_projection(inputs)
        state = self._initial_state(inputs, initial_state)
        state_mask = self._dropout_mask(state[0], self.recurrent_dropout)
        outputs = []
        for t in range(projected.shape[1]):
            if state_mask is not None:
                state = [state[0] * state_mask, *state[1:]]
            state = self.step(projected[:, t], state)
            outputs.append(state[0])
        if not outputs:
            raise ValueError(f"{type(self).__name__} needs at least one step, got 0")
        output = torch.stack(outputs, dim=1) if self.return_sequences else outputs[-1]
        return [output, *state] if self.return_state else output

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_optional(initializers, self.kernel_initializer),
            "recurrent_initializer": serialize_optional(initializers, self.recurrent_initializer),
            "bias_initializer": serialize_optional(initializers, self.bias_initializer),
            "kernel_regularizer": serialize_optional(regularizers, self.kernel_regularizer),
            "recurrent_regularizer": serialize_optional(regularizers, self.recurrent_regularizer),
            "bias_regularizer": serialize_optional(regularizers, self.bias_regularizer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "unroll": self.unroll,
        }

    def extra_repr(self) -> str:
        return f"name={self.name!r}, units={self.units}"


class SimpleRNN(_Recurrent):
    """The vanilla recurrent network: h⁽ᵗ⁾ = activation(x⁽ᵗ⁾ W + h⁽ᵗ⁻¹⁾ U + b)."""

    def step(self, projected: torch.Tensor, state: State) -> State:
        return [self.activation(projected + state[0] @ self.recurrent_kernel)]


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997): gated self-loops that let
    gradients flow over many steps (§10.10.1). Returns h (and, with ``return_state``,
    ``[output, h, c]``)."""

    gates = 4
    state_count = 2

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, activation, **kwargs)

    def initial_bias(self) -> torch.Tensor:
        bias = super().initial_bias()
        if self.unit_forget_bias:
            bias[self.units : 2 * self.units] += 1.0
        return bias

    def step(self, projected: torch.Tensor, state: State) -> State:
        h, c = state
        z = projected + h @ self.recurrent_kernel
        i, f, g, o = z.chunk(4, dim=-1)
        c = self.recurrent_activation(f) * c + self.recurrent_activation(i) * self.activation(g)
        return [self.recurrent_activation(o) * self.activation(c), c]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014), Keras 3's ``reset_after=True`` form: the
    reset gate multiplies U_h h + b'_h (so the input and recurrent biases stay apart, as
    in cuDNN and ``torch.nn.GRU``)."""

    gates = 3

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        reset_after: bool = True,
        **kwargs: Any,
    ) -> None:
        check_argument(
            "reset_after",
            reset_after,
            reset_after is True,
            "True (Keras 3's default, the form torch and cuDNN compute)",
        )
        self.recurrent_activation = activations.get(recurrent_activation)
        super().__init__(units, activation, **kwargs)

    def initial_bias(self) -> torch.Tensor:
        return initialize(self.bias_initializer, (2, 3 * self.units), "bias").data

    def input_projection(self, inputs: torch.Tensor) -> torch.Tensor:
        projected = inputs @ self.kernel
        return projected if self.bias is None else projected + self.bias[0]

    def step(self, projected: torch.Tensor, state: State) -> State:
        h = state[0]
        inner = h @ self.recurrent_kernel
        if self.bias is not None:
            inner = inner + self.bias[1]
        x_z, x_r, x_h = projected.chunk(3, dim=-1)
        h_z, h_r, h_h = inner.chunk(3, dim=-1)
        z = self.recurrent_activation(x_z + h_z)
        r = self.recurrent_activation(x_r + h_r)
        candidate = self.activation(x_h + r * h_h)
        return [z * h + (1.0 - z) * candidate]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": True,
        }
