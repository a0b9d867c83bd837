"""The layer taps' squared per-example gradients, against each example's gradient from its
own backward pass."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from deepdescent.layers import Dense
from deepdescent.layers.recording import recordable_layers
from deepdescent.optimizers.second_order.layer_taps import tap_layers

LAYERS = {
    # name → (layer, input shape of one example)
    "keras_dense": (lambda: Dense(3, input_shape=(4,)), (4,)),
    "torch_linear": (lambda: torch.nn.Linear(4, 3), (4,)),
    "torch_conv1d": (lambda: torch.nn.Conv1d(2, 3, 3), (2, 6)),
}


def _pre_activation(layer, x):
    return layer.call_pre_activation(x) if hasattr(layer, "call_pre_activation") else layer(x)


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.3])
@pytest.mark.parametrize("case", list(LAYERS))
def test_squared_gradient_sums_average_over_the_first_part_of_the_pass(case, fraction):
    """(1/k) Σ_{n≤k} (∇ℓₙ)² over the first k = ⌈fraction · N⌉ examples of the recorded
    pass (the pass's loss the mean of the N examples' losses)."""
    make, shape = LAYERS[case]
    torch.manual_seed(0)
    layer = make().double()
    (record,) = recordable_layers(layer)
    x = torch.randn(7, *shape, dtype=torch.float64)
    with torch.no_grad():
        y = torch.randn_like(_pre_activation(layer, x))
    (tap,) = tap_layers([record], [record.weight, record.bias], lambda: True)
    F.mse_loss(_pre_activation(layer, x), y).backward()
    sums = tap.squared_gradient_sums(fraction)
    tap.detach()
    rows = math.ceil(fraction * len(x))
    expected = [torch.zeros_like(record.weight), torch.zeros_like(record.bias)]
    for n in range(rows):
        loss = F.mse_loss(_pre_activation(layer, x[n : n + 1]), y[n : n + 1])
        grads = torch.autograd.grad(loss, [record.weight, record.bias])
        for total, grad in zip(expected, grads, strict=True):
            total += grad * grad / rows
    torch.testing.assert_close(sums[record.weight], expected[0], rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(sums[record.bias], expected[1], rtol=1e-10, atol=1e-14)
