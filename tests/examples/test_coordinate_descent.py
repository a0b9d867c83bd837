"""The sparse-coding demonstration's claim at a small size: alternating exact
minimizations over the codes and the dictionary never increase J(H, W), and the L1 term
sets codes exactly to 0."""

from __future__ import annotations

import itertools


def test_j_goes_down_at_every_half_step(load_example):
    example = load_example("coordinate_descent")
    x, dictionary = example["signals"](dimension=6, atoms=3, samples=12)
    _, h, values = example["learn"](x, dictionary.shape[0], lam=1.0, sweeps=4)
    assert len(values) == 1 + 2 * 4
    assert all(later <= earlier for earlier, later in itertools.pairwise(values))
    assert values[-1] < 0.3 * values[0]
    assert (h == 0).any()
