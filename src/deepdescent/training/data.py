"""Data for the trainer: arrays checked once and moved to the device, and the minibatch
iterator that owns its random order.

Goodfellow et al. §8.1.3: minibatches must be drawn at random, and drawing a fresh
permutation of the training set each epoch does it without replacement.
:class:`BatchIterator` keeps its own ``torch.Generator`` (seeded from torch's global one,
so ``set_random_seed`` fixes the order) and its position within the epoch, and both can be
saved and restored: a run resumed from a saved iterator sees exactly the minibatches the
uninterrupted run would have seen.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from deepdescent.utils._checks import check_argument, is_integer

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BatchIterator",
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
        tensor = torch.from_numpy(np.asarray(array, order="C"))
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
    if isinstance(value, torch.Tensor):
        return len(value)
    leaves = list(value.values()) if isinstance(value, dict) else list(value)
    lengths = {structure_length(leaf) for leaf in leaves}
    if len(lengths) != 1:
        raise ValueError(f"the arrays given together hold different numbers of samples: {lengths}")
    return lengths.pop()


def take(value: Any, index: slice | torch.Tensor) -> Any:
    """Rows ``index`` (a slice or a tensor of indices) of a tensor or of every tensor of a
    list, tuple or dict; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value[index] if isinstance(index, slice) else value.index_select(0, index)
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
    if not isinstance(fraction, (int, float)) or not 0.0 <= fraction < 1.0:
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
        shuffle: draw a permutation per epoch (else the stored order).
        seed: the generator's seed; ``None`` draws one from torch's global generator
            (when ``shuffle``: an unshuffled run draws nothing).
        sample_weight: a weight per sample, or ``None``.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        batch_size: int,
        shuffle: bool = True,
        seed: int | None = None,
        sample_weight: torch.Tensor | None = None,
    ) -> None:
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.samples = structure_length(x)
        self.batch_size = check_batch_size(batch_size)
        self.shuffle = bool(shuffle)
        if seed is None:
            seed = int(torch.randint(0, 2**62, (), dtype=torch.int64)) if shuffle else 0
        self.generator = torch.Generator().manual_seed(seed)
        self.position = 0
        self._epoch_start_state = self.generator.get_state()
        self._order: torch.Tensor | None = None

    def __len__(self) -> int:
        """The number of minibatches per epoch."""
        return math.ceil(self.samples / self.batch_size)

    def start_epoch(self) -> None:
        """Draw the next epoch's order and go to its first batch."""
        self._epoch_start_state = self.generator.get_state()
        self.position = 0
        self._order = self._draw_order()

    def _draw_order(self) -> torch.Tensor | None:
        if not self.shuffle:
            return None
        order = torch.randperm(self.samples, generator=self.generator)
        return order.to(_first_tensor(self.x).device)

    def __iter__(self) -> Iterator[tuple[int, Any, Any, torch.Tensor | None]]:
        while self.position < len(self):
            batch = self.position
            start = batch * self.batch_size
            end = start + self.batch_size
            index = slice(start, end) if self._order is None else self._order[start:end]
            self.position += 1
            yield batch, take(self.x, index), take(self.y, index), take(self.sample_weight, index)

    def state_dict(self) -> dict[str, Any]:
        """The position within the epoch and the generator's state when the epoch's order
        was drawn (the order is drawn again from it on loading)."""
        return {"position": self.position, "generator": self._epoch_start_state.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where :meth:`state_dict` was taken: same epoch order, same next batch."""
        position = state["position"]
        check_argument(
            "position",
            position,
            is_integer(position) and 0 <= position <= len(self),
            "a batch index",
        )
        self.generator.set_state(state["generator"])
        self.start_epoch()
        self.position = int(position)
