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

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from deepdescent import metrics
from deepdescent.callbacks import Callback, CallbackList, History, LazyLogs
from deepdescent.callbacks.logs import emit
from deepdescent.layers.recording import recordable_layers
from deepdescent.optimizers import Optimizer
from deepdescent.optimizers.base import needs_of
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.training.data import BatchIterator, check_batch_size, split_validation
from deepdescent.training.gradient_path import (
    GradientPath,
    choose_gradient_path,
    make_objective,
)
from deepdescent.utils._checks import check_count

if TYPE_CHECKING:
    from deepdescent.models.model import Model

__all__ = ["Trainer", "bind_optimizer", "evaluate", "fit", "predict", "verbose_level"]


def bind_optimizer(model: Model) -> torch.optim.Optimizer:
    """The compiled optimizer, bound to the model's trainable parameters if it was a
    specification (Keras's door)."""
    _, optimizer = model.require_compiled("fit")
    if isinstance(optimizer, Optimizer) and not optimizer.is_bound:
        optimizer.bind([(n, p) for n, p in model.named_parameters() if p.requires_grad])
    return optimizer


def _reader(metric: metrics.Metric) -> Callable[[], float]:
    return lambda: float(metric.result())


class Trainer:
    """Runs epochs of minibatch optimization for one compiled model.

    Args:
        model: a compiled model.
        callbacks: the run's callbacks (those that need autograd rule out the hand-written
            back-propagation).
        method: ``"fit"``, or ``"evaluate"`` for a trainer that only evaluates (no
            gradients, so no choice of gradient path).
    """

    def __init__(
        self, model: Model, callbacks: CallbackList | None = None, method: str = "fit"
    ) -> None:
        self.model = model
        _, self.optimizer = model.require_compiled(method)
        self.needs: TrainingNeeds = needs_of(self.optimizer)
        needing = [type(self.optimizer).__name__] if self.needs.autograd else []
        needing += [type(cb).__name__ for cb in callbacks or [] if cb.needs_autograd]
        self.gradient_path: GradientPath = (
            choose_gradient_path(model, needing)
            if method == "fit"
            else GradientPath("autograd", "evaluation takes no gradients")
        )
        self.objective = make_objective(model, self.gradient_path.name)
        self.loss_tracker = metrics.Mean(name="loss")
        self.metrics = model.compiled_metrics

    def trackers(self) -> list[metrics.Metric]:
        return [self.loss_tracker, *self.metrics]

    def reset(self) -> None:
        for tracker in self.trackers():
            tracker.reset_state()

    def results(self) -> dict[str, float]:
        return {t.name: float(t.result()) for t in self.trackers()}

    def lazy_results(self) -> LazyLogs:
        return LazyLogs({t.name: _reader(t) for t in self.trackers()})

    def record(self, y: torch.Tensor, cost: torch.Tensor, outputs: torch.Tensor) -> None:
        self.loss_tracker.update_state(cost, sample_weight=len(y))
        if self.metrics:
            predictions = self.objective.to_prediction(outputs)
            for metric in self.metrics:
                metric.update_state(y, predictions)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One optimizer step on the minibatch ``(x, y)``; its loss and metrics recorded."""
        first: list[tuple[torch.Tensor, torch.Tensor]] = []

        def closure() -> torch.Tensor:
            cost, outputs = self.objective.value_and_grad(x, y)
            if not first:
                first.append((cost, outputs))
            return cost

        if self.needs.model_outputs:
            step = cast(Any, self.optimizer).step
            step(closure, model_outputs=self.objective.model_outputs(x, y))
        else:
            self.optimizer.step(cast(Any, closure))
        self.record(y, *first[0])

    def train_epoch(self, batches: BatchIterator, callbacks: CallbackList) -> None:
        self.model.train()
        self.reset()
        wants_logs = callbacks.listens("on_train_batch_end")
        for batch, xb, yb in batches:
            callbacks.on_train_batch_begin(batch)
            self.train_step(xb, yb)
            callbacks.on_train_batch_end(batch, self.lazy_results() if wants_logs else None)
            if self.model.stop_training:
                break

    @torch.no_grad()
    def evaluate(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        callbacks: CallbackList | None = None,
    ) -> dict[str, float]:
        self.model.eval()
        self.reset()
        wants_logs = callbacks is not None and callbacks.listens("on_test_batch_end")
        for batch, start in enumerate(range(0, len(x), batch_size)):
            if callbacks is not None:
                callbacks.on_test_batch_begin(batch)
            yb = y[start : start + batch_size]
            cost, outputs = self.objective(x[start : start + batch_size], yb)
            self.record(yb, cost, outputs)
            if callbacks is not None:
                callbacks.on_test_batch_end(batch, self.lazy_results() if wants_logs else None)
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
    shuffle: bool,
    initial_epoch: int,
    validation_batch_size: int | None,
) -> History:
    """``Model.fit``: see its docstring."""
    level = verbose_level(verbose)
    check_count("epochs", epochs, minimum=0)
    check_count("initial_epoch", initial_epoch, minimum=0)
    batch_size_given = batch_size is not None
    batch_size = check_batch_size(batch_size)
    validation_batch_size = check_batch_size(
        validation_batch_size or batch_size, "validation_batch_size"
    )
    x_all, y_all = model.prepare_data(x, y)
    validation: tuple[torch.Tensor, torch.Tensor] | None
    if validation_data is not None:
        train = (x_all, y_all)
        validation = model.prepare_data(
            *_unpack_validation(validation_data), names=("x_val", "y_val")
        )
    else:
        train, validation = split_validation(x_all, y_all, validation_split)
    bind_optimizer(model)
    callback_list = CallbackList(callbacks, add_history=True, add_progbar=level > 0, model=model)
    trainer = Trainer(model, callback_list)
    if trainer.needs.full_batch and not batch_size_given:
        # A batch method (line searches, (L-)BFGS, Newton) takes the whole training set per
        # step: the batch method of §8.1.3.
        batch_size = len(train[0])
    batches = BatchIterator(*train, batch_size, shuffle)
    callback_list.set_params({"verbose": level, "epochs": epochs, "steps": len(batches)})
    if level == 2:
        emit(None, f"Gradients: {trainer.gradient_path.name} ({trainer.gradient_path.reason})")
    model.stop_training = False
    trainer.begin_training()
    callback_list.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        trainer.use_training_weights()
        batches.start_epoch()
        trainer.train_epoch(batches, callback_list)
        # Schedule-Free keeps two points: gradients are taken at y, the average x is the
        # one to evaluate, checkpoint and return (Defazio et al. 2024).
        trainer.use_evaluation_weights()
        logs = trainer.results()
        if validation is not None:
            logs.update(validate(trainer, validation, validation_batch_size, callback_list))
        if isinstance(trainer.optimizer, Optimizer):
            logs["learning_rate"] = trainer.optimizer.learning_rate
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    trainer.end_training()
    callback_list.on_train_end(logs)
    return cast(History, model.history)


def validate(
    trainer: Trainer,
    validation: tuple[torch.Tensor, torch.Tensor],
    batch_size: int,
    callbacks: CallbackList,
) -> dict[str, float]:
    """The end-of-epoch validation pass, seen by the callbacks' test hooks as Keras's is
    (their logs without the ``val_`` prefix); returns the ``val_`` logs."""
    callbacks.on_test_begin()
    logs = trainer.evaluate(*validation, batch_size, callbacks)
    callbacks.on_test_end(logs)
    return {f"val_{name}": value for name, value in logs.items()}


def _unpack_validation(validation_data: Any) -> tuple[Any, Any]:
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a tuple (x_val, y_val)")
    return validation_data[0], validation_data[1]


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
) -> dict[str, float]:
    """``Model.evaluate``: see its docstring."""
    batch_size = check_batch_size(batch_size)
    level = verbose_level(verbose)
    x_t, y_t = model.prepare_data(x, y, method="evaluate")
    callback_list = CallbackList(
        callbacks,
        add_history=False,
        add_progbar=level > 0,
        model=model,
        verbose=level,
        epochs=1,
        steps=math.ceil(len(x_t) / batch_size),
    )
    callback_list.on_test_begin()
    trainer = Trainer(model, callback_list, method="evaluate")
    logs = trainer.evaluate(x_t, y_t, batch_size, callback_list)
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
) -> np.ndarray:
    """``Model.predict``: see its docstring."""
    batch_size = check_batch_size(batch_size)
    level = verbose_level(verbose)
    x_t = model.prepare_inputs(x)
    callback_list = CallbackList(
        callbacks,
        add_history=False,
        add_progbar=level > 0,
        model=model,
        verbose=level,
        epochs=1,
        steps=math.ceil(len(x_t) / batch_size),
    )
    model.eval()
    callback_list.on_predict_begin()
    outputs = []
    for batch, start in enumerate(range(0, len(x_t), batch_size)):
        callback_list.on_predict_batch_begin(batch)
        outputs.append(model(x_t[start : start + batch_size]))
        callback_list.on_predict_batch_end(batch, {"outputs": outputs[-1]})
    callback_list.on_predict_end()
    return torch.cat(outputs).cpu().numpy()
