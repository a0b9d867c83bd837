"""Data for the trainer: arrays checked once and moved to the device, and the minibatch
iterator that owns its random order.

Goodfellow et al. §8.1.3: minibatches must be drawn at random, and drawing a fresh
permutation of the training set each epoch does it without replacement.
:class:`BatchIterator` keeps its own ``torch.Generator`` (seeded from torch's global one,
so ``set_random_seed`` fixes the order) and its position within the epoch, and both can be
saved and restored: a run resumed from a saved iterator sees exactly the minibatches the
uninterrupted run would have seen.

The order is pluggable: ``shuffle`` may be an :class:`ExampleOrder`, a strategy that
gives each epoch's sequence of examples from the epoch number and the iterator's
generator — a curriculum (:mod:`deepdescent.strategies.curriculum`, Goodfellow et al.
§8.7.6) that starts with the easy examples. ``fit(..., shuffle=Curriculum(...))`` passes
it here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from deepdescent.utils._checks import check_argument, is_integer, is_real

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BatchIterator",
    "ExampleOrder",
    "as_tensor",
    "check_batch_size",
    "split_validation",
    "structure_length",
    "take",
]

DEFAULT_BATCH_SIZE = 32


def as_tensor(
    value: Any, argument: str, dtype: torch.dtype | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """``value`` (array-like or tensor) as a tensor of ``dtype`` on ``device`` (``None``:
    as it is)."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        array = np.asarray(value)
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.number) or array.dtype == bool
        ):
            raise TypeError(f"{argument} must be a numeric array, got dtype {array.dtype}")
        # ascontiguousarray makes a 0-d array 1-d; the reshape keeps a scalar a scalar.
        tensor = torch.from_numpy(np.ascontiguousarray(array).reshape(array.shape))
    if tensor.dim() == 0:
        raise ValueError(f"{argument} must have a batch axis, got a scalar")
    if (
        dtype is not None
        and not dtype.is_floating_point
        and tensor.dtype.is_floating_point
        and not torch.equal(tensor, tensor.round())
    ):
        raise ValueError(f"{argument} must hold integer class labels for this loss")
    return tensor.to(device=device, dtype=dtype)


def check_batch_size(batch_size: Any, argument: str = "batch_size") -> int:
    """A positive int; ``None`` means Keras's default, 32."""
    if batch_size is None:
        return DEFAULT_BATCH_SIZE
    check_argument(argument, batch_size, is_integer(batch_size) and batch_size > 0, "an int > 0")
    return int(batch_size)


def structure_length(value: Any) -> int:
    """The number of samples of a tensor, or of a list, tuple or dict of them (each must
    hold as many)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return len(value)
    leaves = list(value.values()) if isinstance(value, dict) else list(value)
    lengths = {structure_length(leaf) for leaf in leaves}
    if len(lengths) != 1:
        raise ValueError(f"the arrays given together hold different numbers of samples: {lengths}")
    return lengths.pop()


def take(value: Any, index: slice | torch.Tensor) -> Any:
    """Rows ``index`` (a slice or a tensor of indices) of a tensor or array, or of every
    one of a list, tuple or dict; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value[index] if isinstance(index, slice) else value.index_select(0, index)
    if isinstance(value, np.ndarray):
        return value[index if isinstance(index, slice) else index.cpu().numpy()]
    if isinstance(value, dict):
        return {k: take(v, index) for k, v in value.items()}
    return type(value)(take(v, index) for v in value)


def _first_tensor(value: Any) -> torch.Tensor:
    while not isinstance(value, torch.Tensor):
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
    return value


def split_validation(
    arrays: tuple[Any, ...], fraction: float
) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
    """Keras's ``validation_split``: the *last* ``fraction`` of the samples, before
    shuffling, of each of ``arrays`` (tensors, structures of them, or ``None``)."""
    if not is_real(fraction) or not 0.0 <= fraction < 1.0:
        raise ValueError(f"Invalid validation_split: {fraction!r} (expected 0 <= value < 1)")
    if fraction == 0:
        return arrays, None
    count = structure_length(arrays[0])
    split_at = math.floor(count * (1.0 - fraction))
    if split_at == 0 or split_at == count:
        raise ValueError(
            f"validation_split={fraction} of {count} samples leaves an empty "
            "training or validation set"
        )
    return (
        tuple(take(a, slice(None, split_at)) for a in arrays),
        tuple(take(a, slice(split_at, None)) for a in arrays),
    )


@runtime_checkable
class ExampleOrder(Protocol):
    """A strategy for the order in which an epoch visits the training examples.

    ``check(count)`` raises a ``ValueError`` (naming the argument) unless the strategy can
    order ``count`` examples — it is called once, before training. ``order(epoch, count,
    generator)`` returns the epoch's example indices, a 1-D integer tensor of ``count``
    entries (an index may repeat, and another be left out), drawing any randomness from
    ``generator`` only, so that the same generator state gives the same order.
    """

    def check(self, count: int) -> None: ...

    def order(self, epoch: int, count: int, generator: torch.Generator) -> torch.Tensor: ...


class BatchIterator:
    """Minibatches of ``(x, y)`` (and sample weights), in a fresh random order each epoch
    when ``shuffle``.

    Iterating yields ``(batch_index, x_batch, y_batch, weight_batch)`` from the current
    position to the end of the epoch; :meth:`start_epoch` draws the next order. The last
    batch of an epoch may be smaller.

    Args:
        x, y: the training inputs and targets, on their device: tensors, or lists or dicts
            of tensors (several inputs or outputs); ``y`` may be ``None``.
        batch_size: the minibatch size m.
        shuffle: ``True``: a permutation per epoch; ``False``: the stored order; or an
            :class:`ExampleOrder` (a curriculum), checked against ``len(x)`` here.
        seed: the generator's seed; ``None`` draws one from torch's global generator
            (unless ``shuffle`` is ``False``: an unshuffled run draws nothing).
        sample_weight: a weight per sample, or ``None``.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        batch_size: int,
        shuffle: bool | ExampleOrder = True,
        seed: int | None = None,
        sample_weight: torch.Tensor | None = None,
    ) -> None:
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.samples = structure_length(x)
        self.batch_size = check_batch_size(batch_size)
        self.strategy = shuffle if isinstance(shuffle, ExampleOrder) else None
        if self.strategy is not None:
            self.strategy.check(self.samples)
        self.shuffle = bool(shuffle)
        if seed is None:
            seed = int(torch.randint(0, 2**62, (), dtype=torch.int64)) if self.shuffle else 0
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.position = 0
        self.epoch = -1  # no epoch started yet
        self._epoch_start_state = self.generator.get_state()
        self._order: torch.Tensor | None = None

    def __len__(self) -> int:
        """The number of minibatches per epoch."""
        return math.ceil(self.samples / self.batch_size)

    def start_epoch(self, epoch: int | None = None) -> None:
        """Draw the order of epoch number ``epoch`` (default: the one after the last) and
        go to its first batch. ``fit`` passes its epoch index, as Keras's schedules see it
        (``initial_epoch`` included), which a curriculum's pacing follows."""
        self._epoch_start_state = self.generator.get_state()
        self.epoch = self.epoch + 1 if epoch is None else int(epoch)
        self.position = 0
        self._order = self._draw_order()

    def _draw_order(self) -> torch.Tensor | None:
        if not self.shuffle:
            return None
        count = self.samples
        device = _first_tensor(self.x).device
        if self.strategy is None:
            return torch.randperm(count, generator=self.generator).to(device)
        order = self.strategy.order(self.epoch, count, self.generator)
        if order.dim() != 1 or len(order) != count or order.is_floating_point():
            raise ValueError(
                f"{type(self.strategy).__name__}.order returned a tensor of shape "
                f"{tuple(order.shape)} and dtype {order.dtype}; expected {count} integer indices"
            )
        return order.to(device)

    def __iter__(self) -> Iterator[tuple[int, Any, Any, torch.Tensor | None]]:
        while self.position < len(self):
            batch = self.position
            start = batch * self.batch_size
            end = start + self.batch_size
            index = slice(start, end) if self._order is None else self._order[start:end]
            self.position += 1
            yield batch, take(self.x, index), take(self.y, index), take(self.sample_weight, index)

    def state_dict(self) -> dict[str, Any]:
        """The epoch number, the position within the epoch and the generator's state when
        the epoch's order was drawn (the order is drawn again from them on loading)."""
        return {
            "epoch": max(self.epoch, 0),  # before the first epoch: loading starts epoch 0
            "position": self.position,
            "generator": self._epoch_start_state.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where :meth:`state_dict` was taken: same epoch order, same next batch."""
        position = state["position"]
        check_argument(
            "position",
            position,
            is_integer(position) and 0 <= position <= len(self),
            "a batch index",
        )
        # A state saved before epochs were counted comes from a permutation per epoch,
        # which the epoch number does not change.
        epoch = state.get("epoch", 0)
        check_argument("epoch", epoch, is_integer(epoch) and epoch >= 0, "an int >= 0")
        self.generator.set_state(state["generator"])
        self.start_epoch(int(epoch))
        self.position = int(position)
