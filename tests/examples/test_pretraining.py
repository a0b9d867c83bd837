"""The pretraining demonstration's claim on Gaussian blobs (the example runs
Fashion-MNIST): for the same number of epochs, the deep sigmoid network trained from
scratch stays at chance and the greedily pretrained one learns."""

from __future__ import annotations

import math

from deepdescent.datasets import gaussian_blobs


def test_greedy_pretraining_trains_what_plain_training_does_not(load_example):
    x, y = gaussian_blobs(samples=2500, seed=0)
    results = load_example("pretraining")["run"](
        (x[:2000], y[:2000]), (x[2000:], y[2000:]), depth=5, width=32, epochs_per_stage=2
    )
    (scratch, scratch_accuracy), (greedy, greedy_accuracy) = results.values()
    assert len(scratch) == len(greedy) == 10
    assert scratch[-1] > 0.95 * math.log(4) and scratch_accuracy < 0.5
    assert greedy[-1] < 0.5 * math.log(4) and greedy_accuracy > 0.9
