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

from deepdescent.utils._checks import check_argument, is_integer, is_real

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BatchIterator",
    "as_tensor",
    "check_batch_size",
    "split_validation",
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
        tensor = torch.from_numpy(np.ascontiguousarray(array))
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


def split_validation(
    x: torch.Tensor, y: torch.Tensor, fraction: float
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor] | None]:
    """Keras's ``validation_split``: the *last* ``fraction`` of the samples, before shuffling."""
    if not is_real(fraction) or not 0.0 <= fraction < 1.0:
        raise ValueError(f"Invalid validation_split: {fraction!r} (expected 0 <= value < 1)")
    if fraction == 0:
        return (x, y), None
    split_at = math.floor(len(x) * (1.0 - fraction))
    if split_at == 0 or split_at == len(x):
        raise ValueError(
            f"validation_split={fraction} of {len(x)} samples leaves an empty "
            "training or validation set"
        )
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


class BatchIterator:
    """Minibatches of ``(x, y)``, in a fresh random order each epoch when ``shuffle``.

    Iterating yields ``(batch_index, x_batch, y_batch)`` from the current position to the
    end of the epoch; :meth:`start_epoch` draws the next order. The last batch of an
    epoch may be smaller.

    Args:
        x, y: the training inputs and targets, on their device.
        batch_size: the minibatch size m.
        shuffle: draw a permutation per epoch (else the stored order).
        seed: the generator's seed; ``None`` draws one from torch's global generator
            (when ``shuffle``: an unshuffled run draws nothing).
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        seed: int | None = None,
    ) -> None:
        self.x, self.y = x, y
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
        return math.ceil(len(self.x) / self.batch_size)

    def start_epoch(self) -> None:
        """Draw the next epoch's order and go to its first batch."""
        self._epoch_start_state = self.generator.get_state()
        self.position = 0
        self._order = self._draw_order()

    def _draw_order(self) -> torch.Tensor | None:
        if not self.shuffle:
            return None
        return torch.randperm(len(self.x), generator=self.generator).to(self.x.device)

    def __iter__(self) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        while self.position < len(self):
            batch = self.position
            start = batch * self.batch_size
            end = start + self.batch_size
            if self._order is None:
                xb, yb = self.x[start:end], self.y[start:end]
            else:
                index = self._order[start:end]
                xb, yb = self.x.index_select(0, index), self.y.index_select(0, index)
            self.position += 1
            yield batch, xb, yb

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
