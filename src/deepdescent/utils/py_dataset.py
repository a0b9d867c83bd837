"""``PyDataset``: Keras's base class for data given batch by batch (``fit(dataset)``)."""

from __future__ import annotations

from typing import Any

from deepdescent.utils._checks import check_argument, check_count

__all__ = ["PyDataset"]


class PyDataset:
    """A sequence of batches: subclasses define ``__len__`` (the number of batches) and
    ``__getitem__(index)`` (one batch: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``),
    and may define ``on_epoch_end`` (reshuffle, ...). ``fit``, ``evaluate`` and
    ``predict`` read one; ``fit(shuffle=True)`` visits the batches in a random order.

    Args:
        workers: threads that load batches ahead (1: batches are loaded when needed).
        use_multiprocessing: Keras's process workers; not supported (threads only).
        max_queue_size: batches loaded ahead at most, with ``workers > 1``.
    """

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ) -> None:
        self.workers = check_count("workers", workers)
        check_argument(
            "use_multiprocessing",
            use_multiprocessing,
            use_multiprocessing is False,
            "False: batches are loaded by threads (workers=n)",
        )
        self.use_multiprocessing = False
        self.max_queue_size = check_count("max_queue_size", max_queue_size)

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    @property
    def num_batches(self) -> int:
        return len(self)

    def on_epoch_begin(self) -> None:
        """Called before each epoch."""

    def on_epoch_end(self) -> None:
        """Called after each epoch."""
