"""The trainer's data: arrays checked and converted once, Keras's validation split, and the
minibatch iterator (Goodfellow et al. §8.1.3: a fresh permutation per epoch) whose order is
its own — or a pluggable order such as a curriculum, given the epoch number fit passes —
and whose position can be saved and restored exactly."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.strategies import Curriculum
from deepdescent.training.data import (
    DEFAULT_BATCH_SIZE,
    BatchIterator,
    as_tensor,
    check_batch_size,
    split_validation,
)
from deepdescent.utils import set_random_seed

N = 10


def _data(n=N):
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1)
    return x, 100 + torch.arange(n)


def _epoch(iterator):
    """The sample indices of each remaining batch of the epoch (x holds the index)."""
    batches = []
    for _, xb, yb, _ in iterator:
        torch.testing.assert_close(yb, 100 + xb[:, 0].long())  # y follows x
        batches.append(xb[:, 0].long().tolist())
    return batches


def _epochs(iterator, count):
    out = []
    for _ in range(count):
        iterator.start_epoch()
        out.append(_epoch(iterator))
    return out


# -- as_tensor, check_batch_size, split_validation --------------------------------------------


def test_as_tensor_converts_arrays_and_detaches_tensors():
    array = np.arange(6, dtype=np.float64).reshape(3, 2)
    tensor = as_tensor(array, "x")
    assert tensor.dtype == torch.float64 and tensor.tolist() == array.tolist()
    assert as_tensor(array, "x", dtype=torch.float32).dtype == torch.float32
    assert as_tensor(np.array([True, False]), "y").dtype == torch.bool
    leaf = torch.ones(2, 2, requires_grad=True)
    assert not as_tensor(leaf * 2, "x").requires_grad
    labels = as_tensor(np.array([1.0, 2.0]), "y", dtype=torch.int64)
    assert labels.dtype == torch.int64 and labels.tolist() == [1, 2]


@pytest.mark.parametrize(
    ("value", "dtype", "error", "message"),
    [
        (np.array(["a", "b"]), None, TypeError, "x must be a numeric array, got dtype <U1"),
        (np.array([object(), 1]), None, TypeError, "x must be a numeric array, got dtype object"),
        (np.float64(3.0), None, ValueError, "x must have a batch axis, got a scalar"),
        (3, None, ValueError, "x must have a batch axis, got a scalar"),
        (torch.tensor(3.0), None, ValueError, "x must have a batch axis, got a scalar"),
        (np.array([0.5, 1.0]), torch.int64, ValueError, "x must hold integer class labels"),
    ],
)
def test_as_tensor_refuses_what_cannot_be_data(value, dtype, error, message):
    with pytest.raises(error, match=message):
        as_tensor(value, "x", dtype)


def test_check_batch_size():
    assert check_batch_size(None) == DEFAULT_BATCH_SIZE == 32
    assert check_batch_size(np.int64(7)) == 7
    for bad in (0, -3, 2.5, True, "8"):
        with pytest.raises(
            ValueError, match=rf"^Invalid batch_size: {bad!r} \(expected an int > 0\)$"
        ):
            check_batch_size(bad)
    with pytest.raises(ValueError, match=r"^Invalid validation_batch_size"):
        check_batch_size(0, "validation_batch_size")


def test_split_validation_holds_out_the_last_fraction():
    x, y = _data()
    (x_train, y_train), validation = split_validation((x, y), 0.3)
    assert x_train[:, 0].tolist() == list(range(7)) and y_train.tolist() == list(range(100, 107))
    x_val, y_val = validation
    assert x_val[:, 0].tolist() == [7, 8, 9] and y_val.tolist() == [107, 108, 109]
    (same_x, same_y), none = split_validation((x, y), 0.0)
    assert none is None and same_x is x and same_y is y


@pytest.mark.parametrize("fraction", [-0.1, 1.0, "0.2", None])
def test_split_validation_refuses_a_fraction_outside_zero_to_one(fraction):
    with pytest.raises(ValueError, match=rf"^Invalid validation_split: {fraction!r}"):
        split_validation(_data(), fraction)


def test_split_validation_refuses_an_empty_side():
    with pytest.raises(ValueError, match=r"validation_split=0\.95 of 10 samples leaves an empty"):
        split_validation(_data(), 0.95)


# -- BatchIterator ------------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_sample_once_per_epoch_in_batches_the_last_one_smaller(shuffle):
    iterator = BatchIterator(*_data(), batch_size=4, shuffle=shuffle, seed=0)
    assert len(iterator) == 3
    for batches in _epochs(iterator, 3):
        assert [len(b) for b in batches] == [4, 4, 2]
        assert sorted(i for batch in batches for i in batch) == list(range(N))
    iterator.start_epoch()
    assert [index for index, *_ in iterator] == [0, 1, 2]


def test_without_shuffle_the_stored_order_and_no_draw_from_the_global_generator():
    before = torch.get_rng_state()
    iterator = BatchIterator(*_data(), batch_size=4, shuffle=False)
    assert _epochs(iterator, 2) == [[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]] * 2
    assert torch.equal(torch.get_rng_state(), before)


def test_with_shuffle_a_fresh_order_each_epoch():
    epochs = _epochs(BatchIterator(*_data(), batch_size=N, seed=0), 3)
    orders = [batches[0] for batches in epochs]
    assert orders[0] != list(range(N))
    assert orders[0] != orders[1] != orders[2]


def test_set_random_seed_fixes_the_order():
    def orders(seed):
        set_random_seed(seed)
        return _epochs(BatchIterator(*_data(), batch_size=3), 2)

    assert orders(5) == orders(5)
    assert orders(5) != orders(6)
    same_seed = [_epochs(BatchIterator(*_data(), batch_size=3, seed=11), 2) for _ in range(2)]
    assert same_seed[0] == same_seed[1]


def test_the_order_does_not_depend_on_the_global_generator_after_construction():
    set_random_seed(0)
    iterator = BatchIterator(*_data(), batch_size=3)
    set_random_seed(0)
    twin = BatchIterator(*_data(), batch_size=3)
    torch.rand(100)  # other users of torch's generator between epochs
    assert _epochs(iterator, 2) == _epochs(twin, 2)


def test_a_state_saved_mid_epoch_resumes_exactly_where_the_run_was():
    """Epoch 1 whole, 2 batches of epoch 2, save; the uninterrupted run goes on to the end
    of epoch 2 and through epoch 3. A fresh iterator (another seed) loaded with the save
    must give exactly those batches; without the save it gives others."""
    iterator = BatchIterator(*_data(), batch_size=3, seed=7)
    _epochs(iterator, 1)
    iterator.start_epoch()
    consumed = [b for _, (_, b, _, _) in zip(range(2), iterator, strict=False)]
    assert len(consumed) == 2 and iterator.position == 2
    saved = copy.deepcopy(iterator.state_dict())
    expected = [_epoch(iterator), *_epochs(iterator, 1)]
    assert [len(e) for e in expected] == [2, 4]

    resumed = BatchIterator(*_data(), batch_size=3, seed=99)
    resumed.load_state_dict(saved)
    assert resumed.position == 2
    assert [_epoch(resumed), *_epochs(resumed, 1)] == expected

    control = BatchIterator(*_data(), batch_size=3, seed=99)
    control.start_epoch()
    control.position = 2
    assert [_epoch(control), *_epochs(control, 1)] != expected


def test_a_state_saved_at_the_end_of_an_epoch_resumes_at_the_next():
    iterator = BatchIterator(*_data(), batch_size=4, seed=3)
    iterator.start_epoch()
    _epoch(iterator)
    saved = copy.deepcopy(iterator.state_dict())
    expected = _epochs(iterator, 2)
    resumed = BatchIterator(*_data(), batch_size=4, seed=4)
    resumed.load_state_dict(saved)
    assert _epoch(resumed) == []
    assert _epochs(resumed, 2) == expected


@pytest.mark.parametrize("position", [-1, 4, 1.5, True, "1"])
def test_load_state_dict_refuses_a_position_that_is_not_a_batch_index(position):
    iterator = BatchIterator(*_data(), batch_size=4, seed=0)
    state = {**iterator.state_dict(), "position": position}
    with pytest.raises(
        ValueError, match=rf"^Invalid position: {position!r} \(expected a batch index\)$"
    ):
        iterator.load_state_dict(state)


def test_batch_size_is_checked():
    with pytest.raises(ValueError, match="Invalid batch_size: 0"):
        BatchIterator(*_data(), batch_size=0)


# -- orders other than a permutation, and resuming them ----------------------------------


def _ramp(n=10):
    x = torch.arange(n, dtype=torch.float32)[:, None]
    return x, x.clone()


def _indices(batches):
    return [int(v) for _, xb, _, _ in batches for v in xb[:, 0]]


def test_shuffling_is_a_permutation_from_the_iterators_own_generator():
    x, y = _ramp()
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
    x, y = _ramp()
    strategy = _Reversed()
    batches = BatchIterator(x, y, batch_size=3, shuffle=strategy, seed=0)
    batches.start_epoch(4)
    assert _indices(batches) == torch.arange(9, -1, -1).roll(4).tolist()
    batches.start_epoch()
    assert strategy.epochs == [4, 5]
    with pytest.raises(ValueError, match="Invalid count"):
        BatchIterator(*_ramp(200), batch_size=3, shuffle=strategy)


def test_an_order_of_the_wrong_length_is_refused():
    class Short(_Reversed):
        def order(self, epoch, count, generator):
            return torch.arange(count - 1)

    batches = BatchIterator(*_ramp(), batch_size=3, shuffle=Short())
    with pytest.raises(ValueError, match=r"Short.order returned a tensor of shape \(9,\)"):
        batches.start_epoch()


@pytest.mark.parametrize("shuffle", [True, "curriculum"])
def test_a_saved_iterator_resumes_with_the_same_batches(shuffle):
    x, y = _ramp(12)
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


def test_fit_refuses_a_curriculum_that_does_not_match_the_training_ramp():
    model = Sequential([Dense(1, input_shape=(1,))])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((10, 1), "float32"), np.ones((10, 1), "float32")
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"Invalid difficulty: '10 scores' \(expected one per"):
        model.fit(x, y, shuffle=Curriculum(np.arange(10)), validation_split=0.2, verbose=0)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # refused before any step
