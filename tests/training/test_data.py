"""The minibatch iterator: its permutation per epoch, a pluggable order (a curriculum)
with the epoch number fit passes, and state_dict/load_state_dict that resume exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.strategies import Curriculum
from deepdescent.training import BatchIterator


def _data(n=10):
    x = torch.arange(n, dtype=torch.float32)[:, None]
    return x, x.clone()


def _indices(batches):
    return [int(v) for _, xb, _ in batches for v in xb[:, 0]]


def test_shuffling_is_a_permutation_from_the_iterators_own_generator():
    x, y = _data()
    batches = BatchIterator(x, y, batch_size=4, seed=7)
    batches.start_epoch()
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(7)).tolist()
    assert _indices(batches) == expected and len(batches) == 3 and batches.epoch == 0
    unshuffled = BatchIterator(x, y, batch_size=4, shuffle=False)
    unshuffled.start_epoch()
    assert _indices(unshuffled) == list(range(10))


class _Reversed:
    """An ExampleOrder: the examples backwards, then rolled by the epoch number."""

    def __init__(self):
        self.epochs = []

    def check(self, count):
        if count > 100:
            raise ValueError("Invalid count")

    def order(self, epoch, count, generator):
        self.epochs.append(epoch)
        return torch.arange(count - 1, -1, -1).roll(epoch)


def test_an_example_order_chooses_each_epoch_from_the_epoch_number():
    x, y = _data()
    strategy = _Reversed()
    batches = BatchIterator(x, y, batch_size=3, shuffle=strategy, seed=0)
    batches.start_epoch(4)
    assert _indices(batches) == torch.arange(9, -1, -1).roll(4).tolist()
    batches.start_epoch()
    assert strategy.epochs == [4, 5]
    with pytest.raises(ValueError, match="Invalid count"):
        BatchIterator(*_data(200), batch_size=3, shuffle=strategy)


def test_an_order_of_the_wrong_length_is_refused():
    class Short(_Reversed):
        def order(self, epoch, count, generator):
            return torch.arange(count - 1)

    batches = BatchIterator(*_data(), batch_size=3, shuffle=Short())
    with pytest.raises(ValueError, match=r"Short.order returned a tensor of shape \(9,\)"):
        batches.start_epoch()


@pytest.mark.parametrize("shuffle", [True, "curriculum"])
def test_a_saved_iterator_resumes_with_the_same_batches(shuffle):
    x, y = _data(12)
    if shuffle == "curriculum":
        shuffle = Curriculum(np.arange(12)[::-1], "linear", start=0.25, epochs=3)
    batches = BatchIterator(x, y, batch_size=5, shuffle=shuffle, seed=3)
    for epoch in range(2):
        batches.start_epoch(epoch)
        list(batches)
    batches.start_epoch(2)
    first = next(iter(batches))
    state = batches.state_dict()
    rest = _indices(batches)
    resumed = BatchIterator(x, y, batch_size=5, shuffle=shuffle, seed=99)
    resumed.load_state_dict(state)
    assert resumed.epoch == 2 and resumed.position == 1 and first[0] == 0
    assert _indices(resumed) == rest


def test_fit_refuses_a_curriculum_that_does_not_match_the_training_data():
    model = Sequential([Dense(1, input_shape=(1,))])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((10, 1), "float32"), np.ones((10, 1), "float32")
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"Invalid difficulty: '10 scores' \(expected one per"):
        model.fit(x, y, shuffle=Curriculum(np.arange(10)), validation_split=0.2, verbose=0)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # refused before any step
