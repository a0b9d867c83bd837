"""deepdescent.random: Keras's seeding rules and the distributions' moments."""

from __future__ import annotations

import pytest
import torch

from deepdescent import random
from deepdescent.utils import set_random_seed

N = 200_000


def test_an_int_seed_repeats_and_a_generator_advances():
    torch.testing.assert_close(random.normal((5,), seed=3), random.normal((5,), seed=3))
    stream = random.SeedGenerator(7)
    first, second = random.uniform((5,), seed=stream), random.uniform((5,), seed=stream)
    assert not torch.equal(first, second)
    again = random.SeedGenerator(7)
    torch.testing.assert_close(random.uniform((5,), seed=again), first)


def test_no_seed_follows_set_random_seed():
    set_random_seed(11)
    a = random.normal((4,))
    set_random_seed(11)
    torch.testing.assert_close(random.normal((4,)), a)


def test_moments_of_the_distributions():
    normal = random.normal((N,), mean=2.0, stddev=3.0, seed=0)
    assert normal.mean().item() == pytest.approx(2.0, abs=0.03)
    assert normal.std().item() == pytest.approx(3.0, rel=0.01)
    uniform = random.uniform((N,), minval=-1.0, maxval=3.0, seed=0)
    assert uniform.min() >= -1.0 and uniform.max() < 3.0
    assert uniform.mean().item() == pytest.approx(1.0, abs=0.02)
    truncated = random.truncated_normal((N,), stddev=2.0, seed=0)
    assert truncated.abs().max() <= 4.0
    # A standard normal cut at ±2 has standard deviation 0.8796.
    assert truncated.std().item() == pytest.approx(2 * 0.8796, rel=0.01)
    ints = random.randint((N,), 3, 7, seed=0)
    assert ints.dtype == torch.int32 and set(ints.unique().tolist()) == {3, 4, 5, 6}


def test_dropout_shuffle_categorical():
    x = torch.ones(N)
    dropped = random.dropout(x, 0.25, seed=0)
    assert (dropped == 0).float().mean().item() == pytest.approx(0.25, abs=0.01)
    assert dropped.unique().tolist() == pytest.approx([0.0, 1 / 0.75])
    shuffled = random.shuffle(torch.arange(10), seed=0)
    assert sorted(shuffled.tolist()) == list(range(10))
    draws = random.categorical(torch.log(torch.tensor([[0.2, 0.8]])), 20_000, seed=0)
    assert draws.shape == (1, 20_000)
    assert draws.float().mean().item() == pytest.approx(0.8, abs=0.02)


def test_bad_seeds_are_refused():
    with pytest.raises(ValueError, match="seed"):
        random.normal((2,), seed=-1)
