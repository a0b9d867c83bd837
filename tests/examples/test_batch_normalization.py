"""The batch-normalization demonstration's claim on Gaussian blobs (the example runs
Fashion-MNIST): at a high learning rate the deep sigmoid network does not train, and the
same network with batch normalization does."""

from __future__ import annotations

import math

from deepdescent.datasets import gaussian_blobs


def test_batch_normalization_trains_where_the_plain_network_does_not(load_example):
    example = load_example("batch_normalization")
    x, y = gaussian_blobs(samples=600)
    histories = example["run"](x, y, learning_rates=(8.0,), width=32, epochs=4)
    plain, normalized = histories[8.0, False], histories[8.0, True]
    chance = math.log(4)
    assert plain["loss"][-1] > 0.95 * chance and plain["accuracy"][-1] < 0.4
    assert normalized["loss"][-1] < 0.4 * chance and normalized["accuracy"][-1] > 0.7
