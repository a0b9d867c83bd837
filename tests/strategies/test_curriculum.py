"""Curricula against their definitions: the pacing functions in closed form, the pool of
the easiest examples (NumPy's stable argsort), balanced passes through it, the stochastic
curriculum's share of examples from anywhere, the epochs fit hands over, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.strategies import Curriculum, StochasticCurriculum


@pytest.mark.parametrize(
    ("pacing", "expected"),
    [
        ("linear", lambda t: min(1.0, 0.2 + 0.8 * t / 4)),
        ("root", lambda t: min(1.0, math.sqrt(0.04 + 0.96 * t / 4))),
        ("step", lambda t: 0.2 if t < 4 else 1.0),
    ],
)
def test_pacing_functions(pacing, expected):
    curriculum = Curriculum(np.zeros(10), pacing, start=0.2, epochs=4)
    for epoch in range(7):
        assert curriculum.fraction(epoch) == pytest.approx(expected(epoch))


def test_each_epoch_cycles_through_the_easiest_examples():
    difficulty = np.array([5, 1, 3, 3, 0, 9, 2, 7, 3, 8])
    curriculum = Curriculum(difficulty, "linear", start=0.3, epochs=2)
    generator = torch.Generator().manual_seed(0)
    ranked = np.argsort(difficulty, kind="stable")
    for epoch, pool_size in [(0, 3), (1, 7), (2, 10), (5, 10)]:
        order = curriculum.order(epoch, 10, generator)
        assert sorted(set(order.tolist())) == sorted(ranked[:pool_size].tolist())
        counts = np.bincount(order.numpy(), minlength=10)[ranked[:pool_size]]
        assert counts.max() - counts.min() <= 1  # balanced passes through the pool


def test_the_stochastic_curriculum_mixes_in_examples_from_anywhere():
    difficulty = np.arange(1000)
    paced = Curriculum(difficulty, "step", start=0.1, epochs=10)
    mixed = StochasticCurriculum(difficulty, "step", start=0.1, epochs=10, mix=0.4)
    order = mixed.order(0, 1000, torch.Generator().manual_seed(1))
    outside = (order >= 100).float().mean().item()
    assert outside == pytest.approx(0.4 * 0.9, abs=0.05)  # mix × the share outside the pool
    none = StochasticCurriculum(difficulty, "step", start=0.1, epochs=10, mix=0.0)
    torch.testing.assert_close(
        none.order(0, 1000, torch.Generator().manual_seed(2)),
        paced.order(0, 1000, torch.Generator().manual_seed(2)),
    )


def test_fit_hands_over_its_epochs_and_trains_on_the_pool():
    x = np.concatenate([np.zeros((20, 1)), np.ones((20, 1))]).astype("float32")
    y = x.copy()
    seen = []

    class Spy(Curriculum):
        def order(self, epoch, count, generator):
            order = super().order(epoch, count, generator)
            seen.append((epoch, sorted(set(order.tolist()))))
            return order

    difficulty = np.concatenate([np.zeros(20), np.ones(20)])
    model = Sequential([Dense(1, input_shape=(1,))])
    model.compile(optimizer="sgd", loss="mse")
    spy = Spy(difficulty, "step", start=0.5, epochs=2)
    model.fit(x, y, epochs=3, initial_epoch=1, batch_size=8, shuffle=spy, verbose=0)
    assert [epoch for epoch, _ in seen] == [1, 2]
    assert seen[0][1] == list(range(20)) and seen[1][1] == list(range(40))


def test_bad_curricula_are_refused():
    with pytest.raises(ValueError, match=r"Invalid difficulty.*1-D array"):
        Curriculum(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="Invalid difficulty"):
        Curriculum([0.0, float("nan")])
    with pytest.raises(ValueError, match="Invalid start: 0"):
        Curriculum(np.zeros(3), start=0)
    with pytest.raises(ValueError, match="Unknown pacing 'cubic'"):
        Curriculum(np.zeros(3), "cubic")
    with pytest.raises(ValueError, match="Invalid mix"):
        StochasticCurriculum(np.zeros(3), mix=1.5)
    wild = Curriculum(np.zeros(3), lambda epoch: 1.5)
    with pytest.raises(ValueError, match=r"Invalid pacing: 1\.5 \(expected g\(t\) in \(0, 1\]\)"):
        wild.order(0, 3, torch.Generator())
    with pytest.raises(ValueError, match=r"Invalid difficulty: '3 scores'.*has 4"):
        Curriculum(np.zeros(3)).check(4)
