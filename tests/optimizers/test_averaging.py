"""Polyak averaging (Goodfellow et al. §8.7.3) against its closed forms in NumPy: the
arithmetic mean (1/t) Σᵢ θ(i), and the exponential average
θ̂(t) = α^(t−1) θ(1) + (1 − α) Σ_{i=2..t} α^(t−i) θ(i) (the first point copied)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.optimizers.averaging import RunningAverage, polyak_weight

T = 7


def _points(seed=0):
    """T points of a 3×2 matrix and a vector, in float64."""
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=(3, 2)), rng.normal(size=4)] for _ in range(T)]


def _closed_form(points, momentum):
    t = len(points)
    if momentum is None:
        return [np.mean(np.stack(tensors), axis=0) for tensors in zip(*points, strict=True)]
    later = [(1 - momentum) * momentum ** (t - i) for i in range(2, t + 1)]
    weights = [momentum ** (t - 1), *later]
    return [
        sum(w * point[j] for w, point in zip(weights, points, strict=True))
        for j in range(len(points[0]))
    ]


@pytest.mark.parametrize("momentum", [None, 0.0, 0.5, 0.9])
def test_the_running_average_is_the_closed_form_after_every_point(momentum):
    points = _points()
    tensors = [torch.zeros(3, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)]
    average = RunningAverage(tensors, momentum=momentum)
    for t in range(1, T + 1):
        average.update([torch.from_numpy(p) for p in points[t - 1]])
        assert average.count == t
        for got, want in zip(average.average, _closed_form(points[:t], momentum), strict=True):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-13, atol=1e-15)


def test_a_small_case_by_hand():
    values = [torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0]), torch.tensor([8.0, 1.0])]
    mean, ema = RunningAverage([values[0]]), RunningAverage([values[0]], momentum=0.5)
    for value in values:
        mean.update([value])
        ema.update([value])
    torch.testing.assert_close(mean.average[0], torch.tensor([4.0, 3.0]))
    torch.testing.assert_close(
        ema.average[0], 0.25 * values[0] + 0.25 * values[1] + 0.5 * values[2]
    )


def test_polyak_weight():
    assert [polyak_weight(t, None) for t in (1, 2, 4)] == [1.0, 0.5, 0.25]
    assert polyak_weight(5, 0.9) == pytest.approx(0.1)


def test_the_buffers_take_the_tensors_shape_dtype_and_device_and_are_copies():
    source = torch.ones(2, 3, dtype=torch.float16)
    average = RunningAverage([source])
    (buffer,) = average.average
    assert buffer.shape == (2, 3) and buffer.dtype == torch.float16 and average.count == 0
    average.update([torch.full((2, 3), 4.0, dtype=torch.float16)])
    assert torch.equal(source, torch.ones(2, 3, dtype=torch.float16))


def test_swap_exchanges_the_values_and_twice_is_the_identity():
    live = [torch.tensor([1.0, 2.0]), torch.tensor([5.0])]
    average = RunningAverage(live)
    average.update([torch.tensor([3.0, 4.0]), torch.tensor([7.0])])
    held = [t.clone() for t in live]
    averaged = [t.clone() for t in average.average]
    average.swap(live)
    for a, b in zip(live, averaged, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(average.average, held, strict=True):
        assert torch.equal(a, b)
    average.swap(live)
    for a, b in zip(live, held, strict=True):
        assert torch.equal(a, b)
