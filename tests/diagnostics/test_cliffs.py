"""Spikes, clipping and update-to-weight ratios against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diagnostics._problems import classification_batch, tanh_net

from deepdescent.diagnostics import (
    clipped_fraction,
    gradient_spikes,
    layer_gradient_norms,
    update_to_weight_ratios,
)


def test_spikes_are_steps_far_above_the_recent_median():
    norms = np.ones(60)
    norms[[20, 21, 45]] = [50.0, 40.0, 4.0]
    norms[30:] *= 2.0  # a level shift is not a spike
    np.testing.assert_array_equal(gradient_spikes(norms, factor=5.0, window=10), [20, 21])
    np.testing.assert_array_equal(gradient_spikes(norms, factor=2.5, window=10), [20, 21, 45])
    assert len(gradient_spikes(np.full(30, 3.0))) == 0


def test_clipped_fraction():
    assert clipped_fraction([0.5, 2.0, 1.0, 3.0], threshold=1.0) == 0.5
    with pytest.raises(ValueError, match="Invalid threshold"):
        clipped_fraction([1.0], threshold=0.0)


def test_update_to_weight_ratio_per_layer():
    net = tanh_net()
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    with torch.no_grad():
        net[0].weight.mul_(1.1)
        net[2].bias.add_(0.5)
    after = dict(net.named_parameters())
    ratios = update_to_weight_ratios(before, after)
    size0 = np.sqrt(sum(float((before[n] ** 2).sum()) for n in ("0.weight", "0.bias")))
    assert ratios["0"] == pytest.approx(0.1 * float(before["0.weight"].norm()) / size0)
    size2 = np.sqrt(sum(float((before[n] ** 2).sum()) for n in ("2.weight", "2.bias")))
    assert ratios["2"] == pytest.approx(0.5 * np.sqrt(3) / size2)


def test_layer_gradient_norms_match_autograd():
    net = tanh_net()
    x, y = classification_batch()
    torch.nn.CrossEntropyLoss()(net(x), y).backward()
    norms = layer_gradient_norms(net, torch.nn.CrossEntropyLoss(), x, y)
    expected0 = torch.cat([net[0].weight.grad.reshape(-1), net[0].bias.grad]).norm()
    assert norms["0"] == pytest.approx(float(expected0), rel=1e-12)
    total = torch.cat([p.grad.reshape(-1) for p in net.parameters()]).norm()
    assert norms["total"] == pytest.approx(float(total), rel=1e-12)
