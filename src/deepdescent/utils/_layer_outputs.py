"""The outputs of a model's direct children on one example of zeros, as ``summary()`` and
``plot_model`` show them (duck-typed on the model, so that ``utils`` needs no import of
``models``)."""

from __future__ import annotations

from typing import Any, cast

import torch

__all__ = ["child_outputs", "shape_text"]


def child_outputs(model: Any, input_shape: Any = None) -> dict[str, Any]:
    """Each direct child's output (a tensor, or a tuple of them) from one forward pass on
    a single example of zeros, when the input shape is known (``input_shape``, else the
    model's declared one or the one seen in the data given to ``fit``); the model's own
    output under the key ``""``. Empty when the model is not built or its input shape is
    unknown."""
    outputs: dict[str, Any] = {}
    input_shape = input_shape or model.input_shape or model.build_input_shape
    # A Sequential called inside a functional graph has built layers but no input shape
    # of its own: running it on zeros then builds nothing.
    layers_built = all(getattr(child, "built", True) for child in model.children())
    if input_shape is None or not (model.built or layers_built):
        return outputs
    handles = [
        child.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out))
        for name, child in model.named_children()
    ]
    try:
        with torch.no_grad():
            was_training = model.training
            model.eval()
            outputs[""] = model(
                torch.zeros(
                    (1, *cast(tuple[int, ...], input_shape[1:])),
                    device=model.device,
                    dtype=model.dtype,
                )
            )
            model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def shape_text(output: Any) -> str:
    """``output``'s shape as Keras prints it, ``None`` for the batch axis."""
    if isinstance(output, torch.Tensor):
        return str((None, *output.shape[1:]))
    if isinstance(output, (list, tuple)):
        return ", ".join(shape_text(item) for item in output)
    return "?"
