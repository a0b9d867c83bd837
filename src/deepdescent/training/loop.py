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
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from deepdescent import metrics, optimizers
from deepdescent.callbacks import BackupAndRestore, Callback, CallbackList, History, LazyLogs
from deepdescent.callbacks.logs import emit
from deepdescent.layers.recording import recordable_layers
from deepdescent.optimizers import Optimizer
from deepdescent.optimizers.base import needs_of
from deepdescent.optimizers.contract import Progress, TrainingNeeds
from deepdescent.training.checkpoint import (
    BackupStore,
    Position,
    RunParts,
    capture,
    check_compatible,
    restore,
)
from deepdescent.training.data import (
    BatchIterator,
    ExampleOrder,
    check_batch_size,
    split_validation,
)
from deepdescent.training.distributed import DataParallel
from deepdescent.training.distributed import resolve as resolve_distributed
from deepdescent.training.gradient_path import (
    GradientPath,
    choose_gradient_path,
    make_objective,
)
from deepdescent.training.numerics import StepGuard, nonfinite_policy
from deepdescent.utils._checks import check_count

if TYPE_CHECKING:
    from deepdescent.models.model import Model

__all__ = [
    "EpochLoop",
    "Trainer",
    "backup_callback",
    "bind_optimizer",
    "check_callbacks",
    "evaluate",
    "fit",
    "predict",
    "verbose_level",
]


def bind_optimizer(model: Model) -> torch.optim.Optimizer:
    """The compiled optimizer, holding every trainable parameter of the model.

    A specification (Keras's door) is bound to them. An optimizer that holds none of
    them — one instance compiled into a second model after it trained the first — is
    replaced, for this model, by a fresh copy of its settings (with a warning), since
    stepping it would leave this model untrained. Parameters of layers added after the
    optimizer was bound join it as a new parameter group. A plain ``torch.optim``
    optimizer cannot be copied or extended this way: it is refused with the fix.
    """
    _, optimizer = model.require_compiled("fit")
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if isinstance(optimizer, Optimizer) and not optimizer.is_bound:
        optimizer.bind(trainable)
        return optimizer
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if trainable and not any(id(p) in held for _, p in trainable):
        return _fresh_copy_for(model, optimizer, trainable)
    missing = [(n, p) for n, p in trainable if id(p) not in held]
    if missing:
        if not isinstance(optimizer, Optimizer):
            raise ValueError(
                f"The optimizer does not hold {', '.join(n for n, _ in missing)} (layers "
                "added after it was made): make the optimizer after building the model, or "
                "pass a deepdescent optimizer, which takes them in"
            )
        named = "param_names" in optimizer.param_groups[0]
        entries: list[Any] = missing if named else [p for _, p in missing]
        optimizer.add_param_group({"params": entries})
    return optimizer


def _fresh_copy_for(
    model: Model, optimizer: torch.optim.Optimizer, trainable: Sequence[tuple[str, torch.Tensor]]
) -> torch.optim.Optimizer:
    """A copy of ``optimizer``'s settings with fresh state, bound to ``trainable``."""
    refusal = (
        f"The compiled {type(optimizer).__name__} holds none of this model's parameters: it "
        "was made for (or has trained) another model. Compile each model with an optimizer "
        "of its own, e.g. optimizer='adam' or Adam(learning_rate=...) (a specification "
        "that compile binds)"
    )
    if not optimizers.is_serializable(optimizer):
        raise ValueError(refusal)
    try:
        fresh = optimizers.deserialize_optimizer(optimizers.serialize(cast(Optimizer, optimizer)))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{refusal} ({error})") from error
    warnings.warn(
        f"The compiled {type(optimizer).__name__} already holds another model's parameters; "
        "this model trains with a fresh copy of it (same settings, new state). Compile each "
        "model with its own optimizer to avoid this",
        stacklevel=4,
    )
    fresh.bind(list(trainable))
    model.optimizer = fresh
    return fresh


def _reader(metric: metrics.Metric) -> Callable[[], float]:
    return lambda: float(metric.result())


def _replaying_first(
    closure: Callable[[], torch.Tensor], first: torch.Tensor
) -> Callable[[], torch.Tensor]:
    """``closure``, except that its first call returns ``first`` (already evaluated, its
    gradient in place) instead of evaluating again."""
    pending = [first]

    def replay() -> torch.Tensor:
        return pending.pop() if pending else closure()

    return replay


class Trainer:
    """Runs epochs of minibatch optimization for one compiled model.

    Args:
        model: a compiled model.
        callbacks: the run's callbacks (those that need autograd rule out the hand-written
            back-propagation).
        method: ``"fit"``, or ``"evaluate"`` for a trainer that only evaluates (no
            gradients, so no choice of gradient path).
        nonfinite: what to do when steps stay non-finite (``fit``'s argument, see
            :mod:`~deepdescent.training.numerics`).
        participants: other parts of the run with a ``name`` and ``needs_autograd``
            (the data-parallel wrapper, :mod:`~deepdescent.training.distributed`).

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
        nonfinite: Any = "raise",
        participants: Sequence[Any] = (),
    ) -> None:
        self.model = model
        _, self.optimizer = model.require_compiled(method)
        self.needs: TrainingNeeds = needs_of(self.optimizer)
        needing = [type(self.optimizer).__name__] if self.needs.autograd else []
        needing += [type(cb).__name__ for cb in callbacks or [] if cb.needs_autograd]
        needing += [p.name for p in participants if p.needs_autograd]
        self.gradient_path: GradientPath = (
            choose_gradient_path(model, needing)
            if method == "fit"
            else GradientPath("autograd", "evaluation takes no gradients")
        )
        self.objective = make_objective(model, self.gradient_path.name)
        self.loss_tracker = metrics.Mean(name="loss")
        self.metrics = model.compiled_metrics
        self.guard = StepGuard(model, self.optimizer, nonfinite_policy(nonfinite))
        self.evaluations = 0

    def trackers(self) -> list[metrics.Metric]:
        return [self.loss_tracker, *self.metrics]

    def state_dict(self) -> dict[str, int]:
        """The trainer's counters (a run resumed from a backup carries them on)."""
        return {"evaluations": self.evaluations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.evaluations = check_count("evaluations", state["evaluations"], minimum=0)

    def reset(self) -> None:
        for tracker in self.trackers():
            tracker.reset_state()

    def results(self, prefix: str = "") -> dict[str, float]:
        return {prefix + t.name: float(t.result()) for t in self.trackers()}

    def lazy_results(self, training: bool = False) -> LazyLogs:
        """The running results as batch logs, read on demand; in training they count the
        epoch's ``skipped_steps`` too."""
        getters = {t.name: _reader(t) for t in self.trackers()}
        if training:
            getters["skipped_steps"] = lambda: float(self.guard.skipped_in_epoch)
        return LazyLogs(getters)

    def record(self, y: torch.Tensor, cost: torch.Tensor, outputs: torch.Tensor) -> None:
        self.loss_tracker.update_state(cost, sample_weight=len(y))
        if self.metrics:
            predictions = self.objective.to_prediction(outputs)
            for metric in self.metrics:
                metric.update_state(y, predictions)

    def train_step(
        self, x: torch.Tensor, y: torch.Tensor, progress: Progress | None = None
    ) -> None:
        """One optimizer step on the minibatch ``(x, y)``; its loss and metrics recorded.
        ``progress`` reaches an optimizer that declares ``progress`` (long steps).

        The closure's first evaluation is made here, before ``step``, so that the
        :class:`~deepdescent.training.numerics.StepGuard` can refuse a step whose loss or
        gradient is not finite; the optimizer's first call of the closure returns that
        evaluation (its gradient is in place), later calls evaluate afresh."""
        first: list[tuple[torch.Tensor, torch.Tensor]] = []

        def closure() -> torch.Tensor:
            self.evaluations += 1
            cost, outputs = self.objective.value_and_grad(x, y)
            if not first:
                first.append((cost, outputs))
            return cost

        if not self.guard.admit(closure()):
            return
        replay = _replaying_first(closure, first[0][0])
        handed: dict[str, Any] = {}
        if self.needs.model_outputs:
            handed["model_outputs"] = self.objective.model_outputs(x, y)
        if self.needs.progress:
            handed["progress"] = progress
        if handed:
            cast(Any, self.optimizer).step(replay, **handed)
        else:
            self.optimizer.step(cast(Any, replay))
        self.record(y, *first[0])

    def train_epoch(
        self,
        batches: BatchIterator,
        callbacks: CallbackList,
        after_batch: Callable[[int], None] | None = None,
    ) -> None:
        """Train on the iterator's batches from its position to the end of the epoch (or
        until a callback stops training); ``after_batch(batch)`` runs once every callback
        has seen the batch (backups are taken there). The trackers carry on from where
        they are: :meth:`reset` them at the start of an epoch."""
        self.model.train()
        wants_logs = callbacks.listens("on_train_batch_end")
        reports = self.needs.progress and callbacks.listens("on_train_batch_progress")
        for batch, xb, yb in batches:
            callbacks.on_train_batch_begin(batch)
            self.train_step(xb, yb, callbacks.progress_of(batch) if reports else None)
            logs = self.lazy_results(training=True) if wants_logs else None
            callbacks.on_train_batch_end(batch, logs)
            if after_batch is not None:
                after_batch(batch)
            if self.model.stop_training:
                break

    @torch.no_grad()
    def evaluate(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        callbacks: CallbackList | None = None,
        prefix: str = "",
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
        return self.results(prefix)

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
    nonfinite: Any = "raise",
    distributed: bool | None = None,
) -> History:
    """``Model.fit``: see its docstring."""
    level = verbose_level(verbose)
    callbacks = check_callbacks(callbacks)
    epochs = check_count("epochs", epochs, minimum=0)
    initial_epoch = check_count("initial_epoch", initial_epoch, minimum=0)
    if initial_epoch > epochs:
        raise ValueError(
            f"Invalid initial_epoch: {initial_epoch} (expected <= epochs={epochs}): as in "
            "Keras, epochs is the index of the epoch to stop at, not a number of more epochs"
        )
    batch_size_given = batch_size is not None
    batch_size = check_batch_size(batch_size)
    validation_batch_size = (
        batch_size
        if validation_batch_size is None
        else check_batch_size(validation_batch_size, "validation_batch_size")
    )
    policy = nonfinite_policy(nonfinite)
    x_all, y_all = model.prepare_data(x, y)
    validation: tuple[torch.Tensor, torch.Tensor] | None
    if validation_data is not None:
        if validation_split:
            warnings.warn(
                f"fit got both validation_data and validation_split={validation_split}: "
                "validation_data is used and validation_split ignored, as in Keras",
                stacklevel=3,
            )
        train = (x_all, y_all)
        validation = model.prepare_data(
            *_unpack_validation(validation_data), names=("x_val", "y_val")
        )
    else:
        train, validation = split_validation(x_all, y_all, validation_split)
    parallel = resolve_distributed(distributed, model)
    if parallel is not None and not parallel.is_primary:
        level = 0  # only rank 0 prints
    bind_optimizer(model)
    callback_list = CallbackList(callbacks, add_history=True, add_progbar=level > 0, model=model)
    participants = [parallel] if parallel is not None else []
    trainer = Trainer(model, callback_list, nonfinite=policy, participants=participants)
    model.trainer = trainer  # callbacks read its counters (``evaluations``)
    if trainer.needs.full_batch and not batch_size_given:
        # A batch method (line searches, (L-)BFGS, Newton) takes the whole training set per
        # step: the batch method of §8.1.3.
        batch_size = len(train[0])
    batches: BatchIterator
    if parallel is not None:
        parallel.check_optimizer(trainer.needs, trainer.optimizer)
        batches = parallel.make_batches(*train, batch_size, shuffle)
        trainer.objective = parallel.objective(trainer.objective, trainer.needs)
        trainer.guard.agree = parallel.agree
    else:
        batches = BatchIterator(*train, batch_size, shuffle)
    callback_list.set_params({"verbose": level, "epochs": epochs, "steps": len(batches)})
    if level == 2:
        emit(None, f"Gradients: {trainer.gradient_path.name} ({trainer.gradient_path.reason})")
    run = EpochLoop(trainer, batches, callback_list, validation, validation_batch_size, parallel)
    run.report_compile = level == 2
    run.run(initial_epoch, epochs)
    return cast(History, model.history)


def check_callbacks(callbacks: Any) -> list[Callback]:
    """``callbacks`` as a list: ``None`` is none; a single callback is refused with the fix
    (Keras documents a list)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        raise TypeError(
            f"callbacks must be a list of Callback instances, got a single "
            f"{type(callbacks).__name__}: pass callbacks=[{type(callbacks).__name__}(...)]"
        )
    if isinstance(callbacks, (str, bytes, dict)) or not isinstance(callbacks, Iterable):
        raise TypeError(
            f"callbacks must be a list of Callback instances, got {type(callbacks).__name__}"
        )
    return list(callbacks)


def backup_callback(callbacks: CallbackList) -> BackupAndRestore | None:
    """The run's :class:`~deepdescent.callbacks.BackupAndRestore`, if it has one."""
    found = [cb for cb in callbacks if isinstance(cb, BackupAndRestore)]
    if len(found) > 1:
        raise ValueError("fit takes at most one BackupAndRestore callback")
    return found[0] if found else None


class EpochLoop:
    """The epochs of one ``fit``: epoch begin, the minibatch steps, validation and epoch
    end, with the backups of :class:`~deepdescent.callbacks.BackupAndRestore` taken after
    every callback has seen a batch or an epoch, and a run resumed from the newest one.

    Args:
        trainer: the model's trainer.
        batches: the training minibatches.
        callbacks: the run's callbacks.
        validation: ``(x_val, y_val)`` or ``None``.
        validation_batch_size: the batch size of validation.
        parallel: this process's part of a data-parallel run, or ``None``.
    """

    def __init__(
        self,
        trainer: Trainer,
        batches: BatchIterator,
        callbacks: CallbackList,
        validation: tuple[torch.Tensor, torch.Tensor] | None,
        validation_batch_size: int,
        parallel: DataParallel | None = None,
    ) -> None:
        self.trainer, self.batches, self.callbacks = trainer, batches, callbacks
        self.parallel = parallel
        self.primary = parallel is None or parallel.is_primary
        self.model = trainer.model
        self.validation, self.validation_batch_size = validation, validation_batch_size
        self.backup = backup_callback(callbacks)
        self.store = None if self.backup is None else BackupStore(self.backup.backup_dir)
        self.parts = RunParts(
            self.model,
            trainer.optimizer,
            batches,
            trainer.trackers(),
            callbacks,
            trainer.guard,
            trainer,
        )
        if parallel is not None:
            self.parts.rank, self.parts.world = parallel.rank, parallel.world
            self.parts.gather = parallel.gather
        self.epoch = self.step = 0
        self.logs: dict[str, float] = {}
        self.report_compile = False  # verbose=2: say once what compiling a fused body cost
        self.compile_seconds = _compile_seconds(trainer.optimizer)

    def run(self, initial_epoch: int, epochs: int) -> None:
        """Train epochs ``initial_epoch`` to ``epochs - 1``, or from the newest backup."""
        self.model.stop_training = False
        if self.store is not None and self.primary:
            self.store.remove_temporaries()
        self.trainer.begin_training()
        self.callbacks.on_train_begin()
        resumed = self._resume()
        first = initial_epoch
        if resumed is not None:
            first = resumed.epoch + 1 if resumed.finished else resumed.epoch
        for epoch in range(first, epochs):
            if resumed is not None and epoch == resumed.epoch:
                # Mid-epoch: the iterator, trackers and callbacks are where they were.
                if not self.model.stop_training:
                    self.trainer.train_epoch(self.batches, self.callbacks, self._after_batch)
            elif self.model.stop_training:
                break
            else:
                self._begin_epoch(epoch)
                self.trainer.train_epoch(self.batches, self.callbacks, self._after_batch)
            self._end_epoch(epoch)
            if self.model.stop_training:
                break
        self.trainer.end_training()
        self.callbacks.on_train_end(self.logs)
        guard = self.trainer.guard
        if guard.tripped:
            # Stopped for non-finite values: the backups stay, whatever delete_checkpoint.
            error = guard.error()
            if guard.policy.action == "raise":
                raise error
            warnings.warn(str(error), RuntimeWarning, stacklevel=4)
        elif self.backup is not None and self.backup.delete_checkpoint and not guard.consecutive:
            if self.parallel is not None:
                self.parallel.barrier()  # every process is past its last read of them
            if self.primary:
                cast(BackupStore, self.store).delete()
            if self.parallel is not None:
                self.parallel.barrier()  # and sees them gone when fit returns

    def _begin_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.callbacks.on_epoch_begin(epoch)
        self.trainer.use_training_weights()
        self.batches.start_epoch(epoch)
        self.trainer.reset()
        self.trainer.guard.start_epoch()

    def _after_batch(self, batch: int) -> None:
        self.step += 1
        if self.parallel is not None:
            # A callback may stop on one process's own numbers: all stop together.
            self.model.stop_training = self.parallel.any(self.model.stop_training)
        if self.backup is not None and self.backup.due_after_batch(self.step):
            self._write_backup(finished=False)

    def _end_epoch(self, epoch: int) -> None:
        trainer = self.trainer
        self._report_compile()
        # Schedule-Free keeps two points: gradients are taken at y, the average x is the
        # one to evaluate, checkpoint and return (Defazio et al. 2024).
        trainer.use_evaluation_weights()
        if self.parallel is not None:
            self.parallel.sum_states(trainer.trackers())
        logs = trainer.results()
        if trainer.guard.skipped_in_epoch and not trainer.guard.admitted_in_epoch:
            # Every step of the epoch was skipped: its training loss is undefined, not 0.
            logs = dict.fromkeys(logs, math.nan)
        logs["skipped_steps"] = float(trainer.guard.skipped_in_epoch)
        if self.validation is not None:
            logs.update(
                trainer.evaluate(*self.validation, self.validation_batch_size, prefix="val_")
            )
        if isinstance(trainer.optimizer, Optimizer):
            logs["learning_rate"] = trainer.optimizer.learning_rate
        self.callbacks.on_epoch_end(epoch, logs)
        self.logs = {k: float(v) for k, v in logs.items()}
        if self.backup is not None and self.backup.due_after_epoch():
            self._write_backup(finished=True)

    def _report_compile(self) -> None:
        seconds = _compile_seconds(self.trainer.optimizer)
        if self.report_compile and seconds > self.compile_seconds:
            self.compile_seconds = seconds
            emit(None, f"Fused optimizer body compiled in {seconds:.1f} s (first step)")

    def _write_backup(self, finished: bool) -> None:
        assert self.store is not None
        position = Position(self.epoch, self.batches.position, finished, self.step)
        state = capture(self.parts, position, self.logs)
        if self.primary:
            self.store.write(state)

    def _resume(self) -> Position | None:
        """Load the newest backup, if any; returns where the run was."""
        if self.store is None:
            return None
        found = self.store.latest(self.model)
        if found is None:
            return None
        state, path = found
        check_compatible(state, self.parts, repr(str(path)))
        position, self.logs, stopped = restore(state, self.parts)
        self.model.stop_training = stopped
        self.epoch, self.step = position.epoch, position.step
        return position


def _compile_seconds(optimizer: torch.optim.Optimizer) -> float:
    """The seconds ``optimizer`` spent compiling fused bodies so far (0 for torch's)."""
    return optimizer.compile_seconds if isinstance(optimizer, Optimizer) else 0.0


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
def predict(model: Model, x: Any, *, batch_size: int | None) -> np.ndarray:
    """``Model.predict``: see its docstring."""
    batch_size = check_batch_size(batch_size)
    x_t = model.prepare_inputs(x)
    model.eval()
    outputs = [model(x_t[start : start + batch_size]) for start in range(0, len(x_t), batch_size)]
    return torch.cat(outputs).cpu().numpy()
