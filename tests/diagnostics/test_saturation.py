"""Saturated and dead units against activations computed in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.diagnostics import saturation
from deepdescent.layers import Dense
from deepdescent.models import Sequential


def _numpy_fractions(kind, outputs, margin):
    if kind == "sigmoid":
        flat = (outputs < margin) | (outputs > 1 - margin)
    elif kind == "tanh":
        flat = np.abs(outputs) > 1 - 2 * margin
    else:
        flat = outputs <= 0
    return flat.mean(), flat.all(axis=0).mean()


@pytest.mark.parametrize("kind", ["sigmoid", "tanh", "relu"])
def test_a_keras_model_layer_by_layer(kind):
    """Unit 0 is pushed into the flat region for every example (dead), unit 1 for half of
    them, unit 2 sits in the middle; the rest are random."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    x[:, 0] = np.where(np.arange(40) % 2 == 0, 1.0, -1.0)
    kernel, bias = rng.normal(size=(3, 6)) * 0.5, np.zeros(6)
    kernel[:, 0], bias[0] = 0.0, -30.0
    kernel[:, 1], bias[1] = [30.0, 0.0, 0.0], 0.0
    kernel[:, 2], bias[2] = 0.0, 0.1
    model = Sequential(
        [Dense(6, activation=kind, input_shape=(3,)), Dense(2, activation="softmax")]
    ).double()
    model.layers[0].kernel.data = torch.tensor(kernel)
    model.layers[0].bias.data = torch.tensor(bias)
    (found,) = saturation(model, x, margin=0.02)
    pre = x @ kernel + bias
    outputs = {"sigmoid": 1 / (1 + np.exp(-pre)), "tanh": np.tanh(pre), "relu": np.maximum(pre, 0)}[
        kind
    ]
    saturated, dead = _numpy_fractions(kind, outputs, 0.02)
    assert (found.layer, found.activation, found.units) == ("dense", kind, 6)
    assert found.saturated_fraction == pytest.approx(saturated)
    assert found.dead_fraction == pytest.approx(dead)
    assert found.dead_fraction >= 1 / 6  # unit 0 at least


def test_torch_activation_modules_and_training_mode_restored():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 8),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 2),
    )
    with torch.no_grad():
        net[0].bias[:3] = -100.0
    net.train()
    x = torch.randn(50, 4)
    found = saturation(net, x)
    assert [(f.layer, f.activation) for f in found] == [("1", "relu"), ("3", "tanh")]
    hidden = torch.relu(net[0](x)).detach().numpy()
    assert found[0].dead_fraction == pytest.approx(_numpy_fractions("relu", hidden, 0.01)[1])
    assert found[0].dead_fraction >= 3 / 8
    assert net.training


def test_bad_margin():
    with pytest.raises(
        ValueError, match=r"Invalid margin: 0.5 \(expected a number in \(0, 0.5\)\)"
    ):
        saturation(torch.nn.Linear(2, 2), torch.zeros(3, 2), margin=0.5)
