"""Layers around a layer: ``Bidirectional`` (a recurrent layer run both ways, §10.3) and
``TimeDistributed`` (one layer applied to every step of a sequence)."""

from __future__ import annotations

from typing import Any

import torch

from deepdescent.layers.base import Layer, Shape
from deepdescent.utils._checks import check_argument

__all__ = ["Bidirectional", "TimeDistributed"]

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _rebuild(spec: Any) -> Layer:
    from deepdescent.layers import deserialize

    return spec if isinstance(spec, Layer) else deserialize(spec)


class Bidirectional(Layer):
    """Runs a recurrent ``layer`` forwards and a copy of it backwards over the sequence
    and merges their outputs (``merge_mode``: ``"concat"``, ``"sum"``, ``"mul"``,
    ``"ave"``, or ``None`` for the two as a list). With ``return_sequences`` the backward
    outputs are put back in the input's order, so step t sees the whole sequence."""

    def __init__(
        self,
        layer: Any,
        merge_mode: str | None = "concat",
        backward_layer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        forward = _rebuild(layer)
        check_argument(
            "layer",
            type(forward).__name__,
            hasattr(forward, "go_backwards"),
            "a recurrent layer (SimpleRNN, LSTM, GRU)",
        )
        check_argument("merge_mode", merge_mode, merge_mode in _MERGE_MODES, str(_MERGE_MODES))
        if backward_layer is None:
            settings = {**forward.get_config(), "go_backwards": not forward.go_backwards}
            settings["name"] = f"backward_{forward.name or type(forward).__name__.lower()}"
            backward = type(forward).from_config(settings)
        else:
            backward = _rebuild(backward_layer)
        self.forward_layer = forward
        self.backward_layer = backward
        self.merge_mode = merge_mode
        self.return_sequences = forward.return_sequences
        self.return_state = forward.return_state

    def call(self, inputs: torch.Tensor, initial_state: Any = None) -> Any:
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        forward = self.forward_layer(inputs, initial_state=forward_state)
        backward = self.backward_layer(inputs, initial_state=backward_state)
        states: list[torch.Tensor] = []
        if self.return_state:
            forward, *forward_states = forward
            backward, *backward_states = backward
            states = forward_states + backward_states
        if self.return_sequences:
            backward = backward.flip(1)
        merged = self._merge(forward, backward)
        if not self.return_state:
            return merged
        return [*merged, *states] if isinstance(merged, list) else [merged, *states]

    def _merge(self, forward: torch.Tensor, backward: torch.Tensor) -> Any:
        if self.merge_mode == "concat":
            return torch.cat([forward, backward], dim=-1)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "mul":
            return forward * backward
        if self.merge_mode == "ave":
            return (forward + backward) / 2
        return [forward, backward]

    def get_config(self) -> dict[str, Any]:
        from deepdescent.layers import serialize

        return {
            **super().get_config(),
            "layer": serialize(self.forward_layer),
            "backward_layer": serialize(self.backward_layer),
            "merge_mode": self.merge_mode,
        }


class TimeDistributed(Layer):
    """Applies ``layer`` to every step: inputs ``(batch, steps, ...)`` are folded to
    ``(batch·steps, ...)``, passed through ``layer`` and unfolded."""

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer = _rebuild(layer)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed needs inputs of shape (batch, steps, ...), got "
                f"{tuple(input_shape)}"
            )
        super().build(input_shape)

    def call(self, inputs: torch.Tensor) -> Any:
        batch, steps = inputs.shape[:2]
        outputs = self.layer(inputs.reshape(batch * steps, *inputs.shape[2:]))
        return outputs.reshape(batch, steps, *outputs.shape[1:])

    def get_config(self) -> dict[str, Any]:
        from deepdescent.layers import serialize

        return {**super().get_config(), "layer": serialize(self.layer)}
