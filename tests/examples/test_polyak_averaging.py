"""The Polyak-averaging demonstration's claim at a small size: on noisy linear regression
with a constant learning rate, the averaged iterate's held-out loss is lower than the last
iterate's."""

from __future__ import annotations


def test_the_average_beats_the_last_iterate(load_example):
    example = load_example("polyak_averaging")
    last, average = example["run"](epochs=4, samples=800, start=50)
    floor = example["NOISE"] ** 2
    assert len(last) == len(average) == 4
    assert all(a < b for a, b in zip(average, last, strict=True))
    assert average[-1] - floor < 0.3 * (last[-1] - floor)
