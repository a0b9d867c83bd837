"""What ``fit``, ``evaluate`` and ``predict`` accept, as batches of tensors on the model's
device.

* Arrays (NumPy, tensors, anything ``np.asarray`` reads — and lists or dicts of them for
  several inputs or outputs) are checked once, moved to the device, and cut into
  minibatches by :class:`~deepdescent.training.data.BatchIterator` (a permutation per
  epoch, Goodfellow et al. §8.1.3).
* A ``torch.utils.data.DataLoader``, a ``torch.utils.data.Dataset`` (batched by a
  DataLoader here), a ``PyDataset`` (batches by index; ``workers > 1`` loads ahead in
  threads; ``shuffle`` visits them in a random order), a generator or any other iterable
  yield batches that are converted as they come. Each batch is ``x``, ``(x,)``, ``(x,
  y)`` or ``(x, y, sample_weight)``, as Keras reads them (a dict is ``x``).

Every source hands out :class:`Batch`es an epoch at a time (:meth:`BatchSource.epoch`);
``steps_per_epoch`` takes that many batches per epoch from a stream that carries on
across epochs; a source that runs out ends its epoch early with a warning and starts
over in the next, as Keras 3 does. ``class_weight`` turns
into per-sample weights from the labels (class indices or one-hot rows).
"""

from __future__ import annotations

import concurrent.futures
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from deepdescent.training.data import (
    BatchIterator,
    ExampleOrder,
    as_tensor,
    check_batch_size,
    split_validation,
    structure_length,
    take,
)
from deepdescent.utils._checks import check_argument, check_count
from deepdescent.utils.py_dataset import PyDataset

if TYPE_CHECKING:
    from deepdescent.models.model import Model

__all__ = [
    "ArraySource",
    "Batch",
    "BatchSource",
    "DataOptions",
    "OneBatch",
    "class_weights_of",
    "convert_structure",
    "evaluation_source",
    "fit_sources",
    "prediction_source",
    "single_batch",
    "unpack",
]


@dataclass(frozen=True)
class DataOptions:
    """``fit``'s and ``evaluate``'s arguments about the data beyond ``x`` and ``y``."""

    sample_weight: Any = None
    class_weight: Mapping[int, float] | None = None
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    validation_freq: int = 1


@dataclass
class Batch:
    """One minibatch on the model's device: inputs, targets (or ``None``) and sample
    weights (or ``None``)."""

    x: Any
    y: Any = None
    sample_weight: torch.Tensor | None = None

    def data(self) -> tuple[Any, ...]:
        """Keras's ``data`` for a custom step: ``(x,)``, ``(x, y)`` or ``(x, y, w)``."""
        if self.sample_weight is not None:
            return (self.x, self.y, self.sample_weight)
        return (self.x,) if self.y is None else (self.x, self.y)

    def __len__(self) -> int:
        return structure_length(self.x)


def unpack(data: Any) -> tuple[Any, Any, Any]:
    """Keras's reading of a batch: ``(x, y, sample_weight)`` from ``x``, ``(x,)``, ``(x,
    y)`` or ``(x, y, sample_weight)`` (a list reads as a tuple; a dict is ``x``)."""
    if isinstance(data, (tuple, list)) and 1 <= len(data) <= 3:
        parts = [*data, None, None]
        return parts[0], parts[1], parts[2]
    return data, None, None


def convert_structure(
    value: Any,
    argument: str,
    device: torch.device,
    dtype: torch.dtype,
    keep_ints: bool = False,
) -> Any:
    """A list, tuple or dict of arrays as the same structure of tensors on ``device``,
    floats (and, unless ``keep_ints``, integers) in ``dtype``; every leaf with as many
    samples."""

    def convert(leaf: Any, name: str) -> Any:
        if isinstance(leaf, (list, tuple, dict)) and not _is_array_like(leaf):
            return convert_structure(leaf, name, device, dtype, keep_ints)
        tensor = as_tensor(leaf, name)
        integral = not tensor.is_floating_point()
        return tensor.to(device=device, dtype=None if (integral and keep_ints) else dtype)

    if isinstance(value, dict):
        converted: Any = {k: convert(v, f"{argument}[{k!r}]") for k, v in value.items()}
    else:
        converted = type(value)(convert(v, f"{argument}[{i}]") for i, v in enumerate(value))
    structure_length(converted)
    return converted


def _is_array_like(value: Any) -> bool:
    """A nested list of numbers (one array), rather than a list of arrays."""
    if isinstance(value, dict):
        return False
    try:
        return np.asarray(value).dtype != object
    except ValueError:
        return False


def class_weights_of(y: torch.Tensor, class_weight: Mapping[int, float]) -> torch.Tensor:
    """Per-sample weights ``class_weight[label]``, the labels read from class indices or
    one-hot rows (argmax)."""
    labels = y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y))
    labels = labels.round().long().cpu()
    present = sorted(set(labels.tolist()))
    missing = [c for c in present if c not in class_weight]
    check_argument(
        "class_weight",
        dict(class_weight),
        not missing,
        f"a weight for every class present (missing {missing})",
    )
    table = torch.zeros(max(present) + 1, dtype=torch.float64)
    for label in present:
        table[label] = float(class_weight[label])
    return table[labels].to(device=y.device, dtype=torch.get_default_dtype())


class BatchSource:
    """Batches an epoch at a time.

    Attributes:
        steps: batches per epoch (``None`` when unknown, e.g. a generator).
        weighted: whether the batches carry sample weights.
    """

    steps: int | None = None
    weighted: bool = False

    def epoch(self, number: int | None = None) -> Iterator[Batch]:
        """The batches of the next epoch (``number``: its index in ``fit``, which an
        example order such as a curriculum follows; other sources ignore it)."""
        raise NotImplementedError

    def first(self) -> Batch:
        """A batch to look at before training (shapes, metrics), without losing it."""
        raise NotImplementedError


class ArraySource(BatchSource):
    """Arrays in memory, cut into minibatches by a :class:`BatchIterator`."""

    def __init__(self, iterator: BatchIterator) -> None:
        self.iterator = iterator
        self.steps = len(iterator)
        self.weighted = iterator.sample_weight is not None

    def epoch(self, number: int | None = None) -> Iterator[Batch]:
        self.iterator.start_epoch(number)
        yield from self.rest_of_epoch()

    def rest_of_epoch(self) -> Iterator[Batch]:
        """The batches from the iterator's position to the end of its epoch (a run
        resumed from a backup carries on there)."""
        for _, x, y, w in self.iterator:
            yield Batch(x, y, w)

    def first(self) -> Batch:
        it, one = self.iterator, slice(0, 1)
        return Batch(take(it.x, one), take(it.y, one), take(it.sample_weight, one))


class StreamSource(BatchSource):
    """Batches that come from an iterable, converted as they come.

    Args:
        epochs: a function that starts the next epoch's iteration (a fresh iterator for
            re-iterable sources, the same one for a generator).
        convert: raw batch → :class:`Batch` on the device.
        steps: batches per epoch when known.
    """

    def __init__(
        self,
        epochs: Callable[[], Iterator[Any]],
        convert: Callable[[Any], Batch],
        steps: int | None,
    ) -> None:
        self.epochs, self.convert, self.steps = epochs, convert, steps
        self._pending: list[Batch] = []
        self._iterator: Iterator[Any] | None = None
        self.weighted = self.first().sample_weight is not None

    def first(self) -> Batch:
        if not self._pending:
            self._iterator = self.epochs()
            try:
                self._pending.append(self.convert(next(self._iterator)))
            except StopIteration:
                raise ValueError("The data yielded no batch at all") from None
        return self._pending[0]

    def epoch(self, number: int | None = None) -> Iterator[Batch]:
        iterator = self._iterator if self._pending else None
        pending, self._pending = self._pending, []
        yield from pending
        if iterator is None:
            iterator = self.epochs()
        self._iterator = None
        for raw in iterator:
            yield self.convert(raw)


class OneBatch(BatchSource):
    """One batch, once per epoch (``train_on_batch``, ``test_on_batch``)."""

    def __init__(self, batch: Batch) -> None:
        self.batch, self.steps = batch, 1
        self.weighted = batch.sample_weight is not None

    def first(self) -> Batch:
        return self.batch

    def epoch(self, number: int | None = None) -> Iterator[Batch]:
        yield self.batch


class StepLimited(BatchSource):
    """``steps`` batches per epoch (``argument``: ``steps_per_epoch`` or
    ``validation_steps``) from a source whose iteration carries on across epochs, as
    Keras 3's epoch iterator: a source that runs out ends the epoch early with Keras's
    warning, and the next epoch starts it over."""

    def __init__(self, source: BatchSource, steps: int, argument: str) -> None:
        self.source, self.limit, self.argument = source, steps, argument
        self.steps = steps
        self.weighted = source.weighted
        self._stream: Iterator[Batch] | None = None

    def first(self) -> Batch:
        return self.source.first()

    def epoch(self, number: int | None = None) -> Iterator[Batch]:
        for _ in range(self.limit):
            if self._stream is None:
                self._stream = self.source.epoch()
            batch = next(self._stream, None)
            if batch is None:
                self._stream = None
                warnings.warn(
                    f"Your input ran out of data before {self.argument}={self.limit} "
                    "batches; this epoch ends early and the next one starts the input over. "
                    "Give an input that yields at least that many batches per epoch (or an "
                    "endless generator).",
                    stacklevel=2,
                )
                return
            yield batch


# -- building the sources ---------------------------------------------------------------


def _is_stream(x: Any) -> bool:
    """Anything that is not arrays: a DataLoader, Dataset, PyDataset, generator ..."""
    if x is None or isinstance(x, (np.ndarray, torch.Tensor, list, tuple, dict)):
        return False
    return isinstance(x, (PyDataset, torch.utils.data.Dataset, Iterable, Iterator)) or hasattr(
        x, "__next__"
    )


def _batch_converter(
    model: Model, class_weight: Mapping[int, float] | None
) -> Callable[[Any], Batch]:
    def convert(raw: Any) -> Batch:
        x, y, w = unpack(tuple(raw) if isinstance(raw, list) else raw)
        x_t = model.prepare_inputs(x, "x (a batch)")
        y_t = None if y is None else model.prepare_targets(y, "y (a batch)")
        w_t = None if w is None else _weights(w, structure_length(x_t), model)
        if class_weight is not None and isinstance(y_t, torch.Tensor):
            by_class = class_weights_of(y_t, class_weight)
            w_t = by_class if w_t is None else w_t * by_class
        return Batch(x_t, y_t, w_t)

    return convert


def _weights(value: Any, count: int, model: Model) -> torch.Tensor:
    weights = as_tensor(value, "sample_weight", model.dtype, model.device)
    weights = weights.reshape(len(weights), -1)
    if len(weights) != count or weights.shape[1] != 1:
        raise ValueError(
            f"sample_weight must hold one weight per sample ({count}), got shape "
            f"{tuple(weights.shape)}"
        )
    return weights.reshape(count)


def _py_dataset_epochs(dataset: PyDataset, shuffle: bool) -> Callable[[], Iterator[Any]]:
    def epoch() -> Iterator[Any]:
        dataset.on_epoch_begin()
        order = np.random.permutation(len(dataset)) if shuffle else np.arange(len(dataset))
        if dataset.workers == 1:
            for index in order:
                yield dataset[int(index)]
        else:
            with concurrent.futures.ThreadPoolExecutor(dataset.workers) as pool:
                ahead = max(dataset.max_queue_size, dataset.workers)
                futures = [pool.submit(dataset.__getitem__, int(i)) for i in order[:ahead]]
                for position in range(len(order)):
                    if position + ahead < len(order):
                        futures.append(
                            pool.submit(dataset.__getitem__, int(order[position + ahead]))
                        )
                    yield futures[position].result()
        dataset.on_epoch_end()

    return epoch


def _stream_source(
    model: Model,
    x: Any,
    batch_size: int | None,
    shuffle: bool,
    class_weight: Mapping[int, float] | None,
) -> StreamSource:
    convert = _batch_converter(model, class_weight)
    if isinstance(x, PyDataset):
        return StreamSource(_py_dataset_epochs(x, shuffle), convert, len(x))
    if isinstance(x, torch.utils.data.Dataset) and not isinstance(
        x, torch.utils.data.IterableDataset
    ):
        x = torch.utils.data.DataLoader(x, batch_size=check_batch_size(batch_size), shuffle=shuffle)
    if isinstance(x, torch.utils.data.DataLoader):
        loader = x
        steps = len(loader) if hasattr(loader.dataset, "__len__") else None
        return StreamSource(lambda: iter(loader), convert, steps)
    if isinstance(x, Iterator) or hasattr(x, "__next__"):
        generator = x
        return StreamSource(lambda: generator, convert, None)
    iterable = x
    steps = len(iterable) if hasattr(iterable, "__len__") else None
    return StreamSource(lambda: iter(iterable), convert, steps)


def _limited(source: BatchSource, steps: int | None, argument: str) -> BatchSource:
    return source if steps is None else StepLimited(source, check_count(argument, steps), argument)


def _array_arrays(
    model: Model,
    x: Any,
    y: Any,
    options: DataOptions,
    names: tuple[str, str] = ("x", "y"),
    method: str = "fit",
) -> tuple[Any, Any, torch.Tensor | None]:
    x_t, y_t = model.prepare_data(x, y, names=names, method=method)
    count = structure_length(x_t)
    weights = (
        None if options.sample_weight is None else _weights(options.sample_weight, count, model)
    )
    if options.class_weight is not None:
        if not isinstance(y_t, torch.Tensor):
            raise ValueError("class_weight needs one array of targets (class labels or one-hot)")
        by_class = class_weights_of(y_t, options.class_weight)
        weights = by_class if weights is None else weights * by_class
    return x_t, y_t, weights


def fit_sources(
    model: Model,
    x: Any,
    y: Any,
    *,
    batch_size: int,
    shuffle: bool | ExampleOrder,
    validation_split: float,
    validation_data: Any,
    validation_batch_size: int,
    options: DataOptions,
    full_batch: bool = False,
) -> tuple[BatchSource, BatchSource | None]:
    """The training batches and the validation batches (or ``None``) of ``fit``;
    ``full_batch`` makes arrays one batch (a batch method's whole training set)."""
    if _is_stream(x):
        if y is not None:
            raise ValueError("y must be left out when x is a dataset or a generator (it yields y)")
        if validation_split:
            raise ValueError("validation_split needs arrays; with a dataset, pass validation_data")
        check_argument(
            "shuffle",
            type(shuffle).__name__,
            isinstance(shuffle, bool),
            "True or False with a dataset or a generator (an example order such as a "
            "curriculum needs arrays)",
        )
        check_argument(
            "sample_weight",
            "given",
            options.sample_weight is None,
            "left out: the dataset yields (x, y, sample_weight)",
        )
        train: BatchSource = _stream_source(
            model, x, batch_size, bool(shuffle), options.class_weight
        )
        first = train.first()
        if first.y is None and model.loss is not None and not _custom_step(model):
            raise ValueError(
                "y is required to compute the loss, but the data yields inputs only: yield "
                "(x, y) or (x, y, sample_weight) batches"
            )
        _resolve_metrics(model, first)
    else:
        arrays = _array_arrays(model, x, y, options)
        training_part, held_out = split_validation(arrays, validation_split)
        x_t, y_t, w_t = training_part
        size = structure_length(x_t) if full_batch else batch_size
        train = ArraySource(BatchIterator(x_t, y_t, size, shuffle, sample_weight=w_t))
        if held_out is not None:
            validation_data = held_out
    train = _limited(train, options.steps_per_epoch, "steps_per_epoch")
    if validation_data is None:
        return train, None
    validation = evaluation_source(
        model,
        validation_data,
        None,
        validation_batch_size,
        options.validation_steps,
        validation=True,
    )
    return train, validation


def evaluation_source(
    model: Model,
    x: Any,
    y: Any,
    batch_size: int,
    steps: int | None,
    sample_weight: Any = None,
    validation: bool = False,
) -> BatchSource:
    """Batches to evaluate on, in order: arrays ``(x, y)``, or (as ``validation_data``) a
    tuple ``(x, y)``/``(x, y, sample_weight)`` or a dataset."""
    if validation and not _is_stream(x):
        if not isinstance(x, (tuple, list)) or len(x) not in (2, 3):
            raise ValueError(
                "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                "sample_weight), or a dataset"
            )
        x, y, sample_weight = unpack(x)
    if _is_stream(x):
        source: BatchSource = _stream_source(model, x, batch_size, False, None)
        if not validation:
            _resolve_metrics(model, source.first())
    else:
        names = ("x_val", "y_val") if validation else ("x", "y")
        options = DataOptions(sample_weight=sample_weight)
        method = "fit" if validation else "evaluate"
        x_t, y_t, w_t = _array_arrays(model, x, y, options, names, method)
        source = ArraySource(BatchIterator(x_t, y_t, batch_size, False, sample_weight=w_t))
    return _limited(source, steps, "steps")


def single_batch(
    model: Model,
    x: Any,
    y: Any,
    sample_weight: Any,
    class_weight: Mapping[int, float] | None,
    method: str = "fit",
) -> Batch:
    """One batch of arrays, checked and on the device (``train_on_batch`` ...)."""
    options = DataOptions(sample_weight=sample_weight, class_weight=class_weight)
    return Batch(*_array_arrays(model, x, y, options, method=method))


def prediction_source(model: Model, x: Any, batch_size: int, steps: int | None) -> BatchSource:
    """Batches of inputs to predict on, in order (targets in a dataset are ignored)."""
    if _is_stream(x):
        source: BatchSource = _stream_source(model, x, batch_size, False, None)
    else:
        inputs = model.prepare_inputs(x)
        source = ArraySource(BatchIterator(inputs, None, batch_size, False))
    return _limited(source, steps, "steps")


def _custom_step(model: Model) -> bool:
    from deepdescent.training.steps import overrides

    return overrides(model, "train_step")


def _resolve_metrics(model: Model, batch: Batch) -> None:
    """Keras resolves ``"accuracy"`` (and checks targets) once shapes are known."""
    if batch.y is not None:
        model.check_targets(batch.x, batch.y, "y (a batch)")
