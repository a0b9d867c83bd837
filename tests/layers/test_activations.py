"""Activation layers against torch.nn's (outputs and gradients to 1e-6), with Keras's
defaults."""

from __future__ import annotations

import pytest
import torch
from layers._compare import built_double, compare

from deepdescent import layers


def _x() -> torch.Tensor:
    return torch.randn(3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize(
    ("layer", "module"),
    [
        (layers.ReLU(), torch.nn.ReLU()),
        (layers.ReLU(max_value=0.5), torch.nn.Hardtanh(0.0, 0.5)),
        (layers.LeakyReLU(), torch.nn.LeakyReLU(0.3)),
        (layers.LeakyReLU(negative_slope=0.2), torch.nn.LeakyReLU(0.2)),
        (layers.ELU(alpha=0.7), torch.nn.ELU(0.7)),
        (layers.Softmax(), torch.nn.Softmax(dim=-1)),
        (layers.Softmax(axis=1), torch.nn.Softmax(dim=1)),
    ],
    ids=["relu", "relu-max", "leaky-default", "leaky-0.2", "elu", "softmax", "softmax-axis1"],
)
def test_matches_torch(layer, module):
    compare(layer, module, _x())


def test_relu_negative_slope_and_threshold_follow_keras():
    x = _x()
    out = layers.ReLU(negative_slope=0.1, threshold=0.5)(x)
    expected = torch.where(x >= 0.5, x, 0.1 * (x - 0.5))
    torch.testing.assert_close(out, expected)


def test_prelu_learns_one_slope_per_unit_or_per_shared_axis():
    x = _x()
    layer = built_double(layers.PReLU(alpha_initializer="ones"), x)
    assert tuple(layer.alpha.shape) == (4, 5)
    with torch.no_grad():
        layer.alpha.fill_(0.25)
    compare(layer, torch.nn.PReLU(1, 0.25).double(), x)
    layer.alpha.grad = None
    direction = torch.randn_like(x)
    (layer(x) * direction).sum().backward()
    # ∂/∂α_jk of Σ d·(max(x, 0) + α min(x, 0)) is Σ over the batch of d·min(x, 0).
    torch.testing.assert_close(layer.alpha.grad, (direction * x.clamp(max=0)).sum(0))
    shared = built_double(layers.PReLU(shared_axes=[1]), x)
    assert tuple(shared.alpha.shape) == (1, 5)


def test_softmax_layer_folds_into_cross_entropy_like_activation():
    assert layers.Softmax().activation_name == "softmax"
    assert layers.Softmax(axis=1).activation_name is None


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="negative_slope"):
        layers.LeakyReLU(negative_slope=-1)
    with pytest.raises(ValueError, match="shared_axes"):
        layers.PReLU(shared_axes=[0])
