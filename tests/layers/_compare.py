"""What the layer tests share: run a deepdescent layer and its torch.nn equivalent on the
same random input (float64) and compare outputs and gradients.

Imported as ``from layers._compare import ...`` (``tests`` is on the path).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

TOLERANCE = 1e-6


def built_double(layer: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module:
    """``layer`` built on ``example`` (float32 weights drawn as Keras draws them), then
    moved to float64."""
    with torch.no_grad():
        layer(example.float())
    return layer.double()


def compare(
    ours: Callable[[torch.Tensor], Any],
    reference: Callable[[torch.Tensor], Any],
    x: torch.Tensor,
    weight_pairs: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
    tolerance: float = TOLERANCE,
) -> None:
    """Outputs, input gradients and the gradients of paired weights agree to
    ``tolerance``. ``weight_pairs`` are (ours, reference) tensors whose gradients must
    match after the reference's is put in our layout (a pair may give a function of the
    reference's gradient instead of a tensor: see :func:`grad_of`)."""
    x_ours = x.detach().clone().requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    out_ours, out_ref = _first(ours(x_ours)), _first(reference(x_ref))
    assert out_ours.shape == out_ref.shape
    torch.testing.assert_close(out_ours, out_ref, atol=tolerance, rtol=tolerance)
    direction = torch.randn_like(out_ref)
    (out_ours * direction).sum().backward()
    (out_ref * direction).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=tolerance, rtol=tolerance)
    for mine, theirs in weight_pairs:
        expected = theirs() if callable(theirs) else theirs.grad
        torch.testing.assert_close(mine.grad, expected, atol=tolerance, rtol=tolerance)


def _first(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, (list, tuple)) else output


def grad_of(tensor: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """The reference gradient of ``tensor``, put in our layout by ``transform`` (read
    after the backward pass)."""
    return lambda: transform(tensor.grad)


def channels_first(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(-1, 1)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(1, -1)
