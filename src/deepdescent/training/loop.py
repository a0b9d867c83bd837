"""The trainer: the one loop behind ``fit``, ``evaluate`` and ``predict``.

The path of a minibatch through ``fit``: the data are checked and moved to the model's
device once; a :class:`~deepdescent.training.data.BatchIterator` draws minibatches by a
permutation per epoch (the chapter's shuffling, Goodfellow et al. §8.1.3); for each one
the trainer builds a closure that evaluates the objective J(θ) and its gradient — by
autograd or by the hand-written back-propagation, whichever
:mod:`~deepdescent.training.gradient_path` chose for the run — and calls the optimizer's
``step`` with it (and with the minibatch's
:class:`~deepdescent.optimizers.contract.ModelOutputs` when the optimizer declares it
needs them); the loss and metrics of the closure's first evaluation accumulate on the
device, so a step never waits for the host; callbacks hang off the hooks around it.

What the optimizer needs is read from its declaration
(:meth:`~deepdescent.optimizers.Optimizer.needs`), never guessed: a batch method gets the
whole training set per step when ``batch_size=None``, a layer-statistics method gets the
model's recordable layers before the first step and lets go of them after the last, a
method with a separate evaluation point (Schedule-Free) is switched to it for validation
and at the end, and ``finalize`` ends training (Polyak averaging).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import torch

from deepdescent import metrics
from deepdescent.callbacks import Callback, CallbackList, History, LazyLogs
from deepdescent.callbacks.logs import emit
from deepdescent.layers.recording import recordable_layers
from deepdescent.optimizers import Optimizer
from deepdescent.optimizers.base import needs_of
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.training import steps
from deepdescent.training.data import ExampleOrder, check_batch_size
from deepdescent.training.gradient_path import (
    GradientPath,
    choose_gradient_path,
    make_objective,
)
from deepdescent.training.inputs import (
    Batch,
    BatchSource,
    DataOptions,
    OneBatch,
    evaluation_source,
    fit_sources,
    prediction_source,
    single_batch,
)
from deepdescent.training.precision import precision_of
from deepdescent.utils._checks import check_argument, check_count

if TYPE_CHECKING:
    from deepdescent.models.model import Model

__all__ = [
    "Trainer",
    "bind_optimizer",
    "evaluate",
    "fit",
    "predict",
    "predict_on_batch",
    "test_on_batch",
    "train_on_batch",
    "verbose_level",
]


def bind_optimizer(model: Model) -> torch.optim.Optimizer:
    """The compiled optimizer, bound to the model's trainable parameters if it was a
    specification (Keras's door)."""
    _, optimizer = model.require_compiled("fit")
    if isinstance(optimizer, Optimizer) and not optimizer.is_bound:
        optimizer.bind([(n, p) for n, p in model.named_parameters() if p.requires_grad])
    return optimizer


def _reader(metric: metrics.Metric) -> Callable[[], float]:
    return lambda: float(metric.result())


def _constant(value: float) -> Callable[[], float]:
    return lambda: value


class Trainer:
    """Runs epochs of minibatch optimization for one compiled model.

    Args:
        model: a compiled model.
        callbacks: the run's callbacks (those that need autograd rule out the hand-written
            back-propagation).
        method: ``"fit"``, or ``"evaluate"`` for a trainer that only evaluates (no
            gradients, so no choice of gradient path).
        weighted: whether batches carry sample weights (the hand-written
            back-propagation takes none).

    Attributes:
        evaluations: calls of the closures built so far, each one evaluation of J(θ) and
            its gradient (a forward and a backward pass); a method that re-evaluates the
            loss (a line search, (L-)BFGS, SAM) makes several per step. A plain int,
            counted on the host: no device work, no change to the gradient path.
    """

    def __init__(
        self,
        model: Model,
        callbacks: CallbackList | None = None,
        method: str = "fit",
        weighted: bool = False,
    ) -> None:
        self.model = model
        _, self.optimizer = model.require_compiled(method)
        self.needs: TrainingNeeds = needs_of(self.optimizer)
        # A model that overrides train_step (test_step) trains (evaluates) its own way.
        self.custom_train = steps.overrides(model, "train_step")
        self.custom_test = steps.overrides(model, "test_step")
        needing = [type(self.optimizer).__name__] if self.needs.autograd else []
        needing += [type(cb).__name__ for cb in callbacks or [] if cb.needs_autograd]
        needing += ["sample weights"] if weighted else []
        self.precision = precision_of(model)
        if self.precision is not None and method == "fit" and not self.custom_train:
            needing.append(f"mixed precision ({self.precision.policy.name})")
            check_argument(
                "optimizer",
                type(self.optimizer).__name__,
                not (self.needs.closure or self.needs.model_outputs),
                "a first-order method under mixed precision (one that steps on gradients "
                "without re-evaluating the loss)",
            )
        self.gradient_path: GradientPath = (
            choose_gradient_path(model, needing)
            if method == "fit" and not self.custom_train
            else GradientPath("autograd", "no hand-written step is taken")
        )
        self.objective = make_objective(model, self.gradient_path.name)
        self.loss_tracker = model.loss_tracker
        self.step_logs: Mapping[str, Any] | None = None
        self.evaluations = 0

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """The forward pass's precision: the mixed policy's autocast, or as it is."""
        return self.precision.autocast() if self.precision is not None else contextlib.nullcontext()

    def trackers(self) -> list[metrics.Metric]:
        return list(self.model.metrics)

    def reset(self) -> None:
        self.step_logs = None
        for tracker in self.trackers():
            tracker.reset_state()

    def results(self) -> dict[str, float]:
        if self.step_logs is not None:
            return steps.flatten_logs(self.step_logs)
        return {t.name: float(t.result()) for t in self.trackers()}

    def lazy_results(self) -> LazyLogs:
        if self.step_logs is not None:
            logs = steps.flatten_logs(self.step_logs)
            return LazyLogs({name: _constant(value) for name, value in logs.items()})
        return LazyLogs({t.name: _reader(t) for t in self.trackers()})

    def record(self, batch: Batch, cost: torch.Tensor, outputs: Any) -> None:
        self.loss_tracker.update_state(cost, sample_weight=len(batch))
        if self.model.compiled_metrics and batch.y is not None:
            predictions = self.objective.to_prediction(outputs)
            for metric in self.model.compiled_metrics:
                metric.update_state(batch.y, predictions, sample_weight=batch.sample_weight)

    def train_step(self, batch: Batch) -> None:
        """One optimizer step on a minibatch; its loss and metrics recorded."""
        if self.custom_train:
            self.step_logs = self.model.train_step(batch.data())
            return
        x, y, weights = batch.x, batch.y, batch.sample_weight
        if self.precision is not None:
            cost, outputs = self.precision.step(
                self.model, self.objective, self.optimizer, x, y, weights
            )
            self.record(batch, cost, outputs)
            return
        first: list[tuple[torch.Tensor, Any]] = []

        def closure() -> torch.Tensor:
            self.evaluations += 1
            cost, outputs = (
                self.objective.value_and_grad(x, y)
                if weights is None
                else self.objective.value_and_grad(x, y, weights)
            )
            if not first:
                first.append((cost, outputs))
            return cost

        if self.needs.model_outputs:
            if weights is not None:
                raise ValueError(
                    f"{type(self.optimizer).__name__} takes the minibatch's outputs and loss "
                    "unweighted: train it without sample_weight or class_weight"
                )
            step = cast(Any, self.optimizer).step
            step(closure, model_outputs=self.objective.model_outputs(x, y))
        else:
            self.optimizer.step(cast(Any, closure))
        self.record(batch, *first[0])

    def train_epoch(
        self, source: BatchSource, callbacks: CallbackList, number: int | None = None
    ) -> None:
        """One pass over ``source``; ``number`` is the epoch's index in ``fit`` (what an
        :class:`~deepdescent.training.data.ExampleOrder` orders by)."""
        self.model.train()
        self.reset()
        wants_logs = callbacks.listens("on_train_batch_end")
        for index, batch in enumerate(source.epoch(number)):
            callbacks.on_train_batch_begin(index)
            self.train_step(batch)
            callbacks.on_train_batch_end(index, self.lazy_results() if wants_logs else None)
            if self.model.stop_training:
                break

    @torch.no_grad()
    def evaluate(
        self, source: BatchSource, callbacks: CallbackList | None = None, reset: bool = True
    ) -> dict[str, float]:
        self.model.eval()
        if reset:
            self.reset()
        wants_logs = callbacks is not None and callbacks.listens("on_test_batch_end")
        for index, batch in enumerate(source.epoch()):
            if callbacks is not None:
                callbacks.on_test_batch_begin(index)
            if self.custom_test:
                self.step_logs = self.model.test_step(batch.data())
            else:
                with self.autocast():
                    cost, outputs = self.objective(batch.x, batch.y, batch.sample_weight)
                self.record(batch, cost, outputs)
            if callbacks is not None:
                callbacks.on_test_batch_end(index, self.lazy_results() if wants_logs else None)
        return self.results()

    # -- the optimizer's side of the run (deepdescent.optimizers.contract) ----------------

    def begin_training(self) -> None:
        if self.needs.layer_statistics and isinstance(self.optimizer, Optimizer):
            self.optimizer.prepare(recordable_layers(self.model))

    def end_training(self) -> None:
        if isinstance(self.optimizer, Optimizer):
            self.optimizer.finalize()
            self.optimizer.release()

    def use_training_weights(self) -> None:
        if isinstance(self.optimizer, Optimizer):
            self.optimizer.use_training_weights()

    def use_evaluation_weights(self) -> None:
        if isinstance(self.optimizer, Optimizer):
            self.optimizer.use_evaluation_weights()


def fit(
    model: Model,
    x: Any,
    y: Any,
    *,
    batch_size: int | None,
    epochs: int,
    verbose: Any,
    callbacks: list[Callback] | None,
    validation_split: float,
    validation_data: Any,
    shuffle: bool | ExampleOrder,
    initial_epoch: int,
    validation_batch_size: int | None,
    data: DataOptions | None = None,
) -> History:
    """``Model.fit``: see its docstring."""
    data = data or DataOptions()
    level = verbose_level(verbose)
    check_count("epochs", epochs, minimum=0)
    check_count("initial_epoch", initial_epoch, minimum=0)
    check_count("validation_freq", data.validation_freq)
    # A batch method (line searches, (L-)BFGS, Newton) takes the whole training set per
    # step (the batch method of §8.1.3) unless a batch size is given.
    full_batch = batch_size is None and needs_of(model.require_compiled("fit")[1]).full_batch
    batch_size = check_batch_size(batch_size)
    validation_batch_size = check_batch_size(
        validation_batch_size or batch_size, "validation_batch_size"
    )
    train, validation = fit_sources(
        model,
        x,
        y,
        batch_size=batch_size,
        shuffle=shuffle,
        validation_split=validation_split,
        validation_data=validation_data,
        validation_batch_size=validation_batch_size,
        options=data,
        full_batch=full_batch,
    )
    bind_optimizer(model)
    callback_list = CallbackList(callbacks, add_history=True, add_progbar=level > 0, model=model)
    trainer = Trainer(model, callback_list, weighted=train.weighted)
    model.trainer = trainer  # callbacks read its counters (``evaluations``)
    callback_list.set_params({"verbose": level, "epochs": epochs, "steps": train.steps})
    if level == 2:
        emit(None, f"Gradients: {trainer.gradient_path.name} ({trainer.gradient_path.reason})")
    model.stop_training = False
    trainer.begin_training()
    callback_list.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        trainer.use_training_weights()
        trainer.train_epoch(train, callback_list, epoch)
        # Schedule-Free keeps two points: gradients are taken at y, the average x is the
        # one to evaluate, checkpoint and return (Defazio et al. 2024).
        trainer.use_evaluation_weights()
        logs = trainer.results()
        if validation is not None and (epoch + 1) % data.validation_freq == 0:
            logs.update(validate(trainer, validation, callback_list))
        if isinstance(trainer.optimizer, Optimizer):
            logs["learning_rate"] = trainer.optimizer.learning_rate
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    trainer.end_training()
    callback_list.on_train_end(logs)
    return cast(History, model.history)


def validate(
    trainer: Trainer, validation: BatchSource, callbacks: CallbackList
) -> dict[str, float]:
    """The end-of-epoch validation pass, seen by the callbacks' test hooks as Keras's is
    (their logs without the ``val_`` prefix); returns the ``val_`` logs."""
    callbacks.on_test_begin()
    logs = trainer.evaluate(validation, callbacks)
    callbacks.on_test_end(logs)
    return {f"val_{name}": value for name, value in logs.items()}


def verbose_level(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose in (0, 1, 2, False, True):
        return int(verbose)
    raise ValueError(f"Invalid verbose: {verbose!r} (expected 'auto', 0, 1 or 2)")


def evaluate(
    model: Model,
    x: Any,
    y: Any,
    *,
    batch_size: int | None,
    verbose: Any,
    callbacks: list[Callback] | None,
    data: DataOptions | None = None,
) -> dict[str, float]:
    """``Model.evaluate``: see its docstring."""
    data = data or DataOptions()
    batch_size = check_batch_size(batch_size)
    level = verbose_level(verbose)
    source = evaluation_source(
        model, x, y, batch_size, data.steps_per_epoch, sample_weight=data.sample_weight
    )
    callback_list = CallbackList(
        callbacks,
        add_history=False,
        add_progbar=level > 0,
        model=model,
        verbose=level,
        epochs=1,
        steps=source.steps,
    )
    callback_list.on_test_begin()
    trainer = Trainer(model, callback_list, method="evaluate")
    logs = trainer.evaluate(source, callback_list)
    callback_list.on_test_end(logs)
    return logs


@torch.no_grad()
def predict(
    model: Model,
    x: Any,
    *,
    batch_size: int | None,
    verbose: Any = 0,
    callbacks: list[Callback] | None = None,
    steps: int | None = None,
) -> Any:
    """``Model.predict``: see its docstring."""
    batch_size = check_batch_size(batch_size)
    level = verbose_level(verbose)
    source = prediction_source(model, x, batch_size, steps)
    callback_list = CallbackList(
        callbacks,
        add_history=False,
        add_progbar=level > 0,
        model=model,
        verbose=level,
        epochs=1,
        steps=source.steps,
    )
    model.eval()
    callback_list.on_predict_begin()
    outputs = []
    mixed = precision_of(model)
    for index, batch in enumerate(source.epoch()):
        callback_list.on_predict_batch_begin(index)
        with mixed.autocast() if mixed is not None else contextlib.nullcontext():
            outputs.append(model.predict_step(batch.data()))
        callback_list.on_predict_batch_end(index, {"outputs": outputs[-1]})
    callback_list.on_predict_end()
    return _concatenate(outputs)


def _concatenate(outputs: list[Any]) -> Any:
    """Batches of outputs (tensors, or lists or dicts of them) joined as NumPy arrays."""
    first = outputs[0]
    if isinstance(first, dict):
        return {k: _concatenate([o[k] for o in outputs]) for k in first}
    if isinstance(first, (list, tuple)):
        return [_concatenate([o[i] for o in outputs]) for i in range(len(first))]
    return torch.cat([torch.as_tensor(o) for o in outputs]).detach().cpu().numpy()


def train_on_batch(
    model: Model, x: Any, y: Any, sample_weight: Any, class_weight: Any
) -> dict[str, float]:
    """``Model.train_on_batch``: one step; the running logs (not reset between calls)."""
    batch = single_batch(model, x, y, sample_weight, class_weight)
    bind_optimizer(model)
    trainer = Trainer(model, weighted=batch.sample_weight is not None)
    model.train()
    trainer.train_step(batch)
    return trainer.results()


def test_on_batch(model: Model, x: Any, y: Any, sample_weight: Any) -> dict[str, float]:
    """``Model.test_on_batch``: the running logs after one more batch."""
    batch = single_batch(model, x, y, sample_weight, None, method="evaluate")
    trainer = Trainer(model, method="evaluate")
    return trainer.evaluate(OneBatch(batch), reset=False)


@torch.no_grad()
def predict_on_batch(model: Model, x: Any) -> Any:
    """``Model.predict_on_batch``: the outputs on one batch as NumPy arrays."""
    model.eval()
    return _concatenate([model.predict_step((model.prepare_inputs(x),))])
