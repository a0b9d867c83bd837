"""The trainer: the one loop behind ``fit``, ``evaluate`` and ``predict``.

The path of a minibatch through ``fit``: the data are checked and moved to the model's
device once (arrays) or batch by batch (a DataLoader, a PyDataset, a generator:
:mod:`~deepdescent.training.inputs`); a :class:`~deepdescent.training.data.BatchIterator`
draws minibatches of arrays by a permutation per epoch (the chapter's shuffling,
Goodfellow et al. §8.1.3); for each one the trainer builds a closure that evaluates the
objective J(θ) and its gradient — by autograd or by the hand-written back-propagation,
whichever :mod:`~deepdescent.training.gradient_path` chose for the run — and calls the
optimizer's ``step`` with it (and with the minibatch's
:class:`~deepdescent.optimizers.contract.ModelOutputs` when the optimizer declares it
needs them); the loss and metrics of the closure's first evaluation accumulate on the
device, so a step never waits for the host; callbacks hang off the hooks around it. A
model that overrides ``train_step`` (``test_step``) takes its own steps instead, and a
mixed-precision model steps through its loss scaler
(:mod:`~deepdescent.training.precision`); the :class:`EpochLoop` around the steps — its
backups, the non-finite guard, data-parallel runs — is the same for all of them.

What the optimizer needs is read from its declaration
(:meth:`~deepdescent.optimizers.Optimizer.needs`), never guessed: a batch method gets the
whole training set per step when ``batch_size=None``, a layer-statistics method gets the
model's recordable layers before the first step and lets go of them after the last, a
method with a separate evaluation point (Schedule-Free) is switched to it for validation
and at the end, and ``finalize`` ends training (Polyak averaging).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import torch

from deepdescent import metrics, optimizers
from deepdescent.callbacks import BackupAndRestore, Callback, CallbackList, History, LazyLogs
from deepdescent.callbacks.logs import emit
from deepdescent.layers.recording import recordable_layers
from deepdescent.optimizers import Optimizer
from deepdescent.optimizers.base import needs_of
from deepdescent.optimizers.contract import Progress, TrainingNeeds
from deepdescent.training import steps
from deepdescent.training.checkpoint import (
    BackupStore,
    Position,
    RunParts,
    capture,
    check_compatible,
    restore,
)
from deepdescent.training.data import ExampleOrder, check_batch_size
from deepdescent.training.distributed import DataParallel
from deepdescent.training.distributed import resolve as resolve_distributed
from deepdescent.training.gradient_path import (
    GradientPath,
    choose_gradient_path,
    make_objective,
)
from deepdescent.training.inputs import (
    ArraySource,
    Batch,
    BatchSource,
    DataOptions,
    OneBatch,
    evaluation_source,
    fit_sources,
    prediction_source,
    single_batch,
)
from deepdescent.training.numerics import StepGuard, nonfinite_policy
from deepdescent.training.precision import precision_of
from deepdescent.utils._checks import check_argument, check_count

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
    "predict_on_batch",
    "test_on_batch",
    "train_on_batch",
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


def _constant(value: float) -> Callable[[], float]:
    return lambda: value


def _replaying_first(
    closure: Callable[[], torch.Tensor], first: torch.Tensor
) -> Callable[[], torch.Tensor]:
    """``closure``, except that its first call returns ``first`` (already evaluated, its
    gradient in place) instead of evaluating again."""
    pending = [first]

    def replay() -> torch.Tensor:
        return pending.pop() if pending else closure()

    return replay


def _logged_loss(logs: Mapping[str, Any] | None) -> float | None:
    """The ``loss`` a custom ``train_step`` returned, if it returned one."""
    flat = steps.flatten_logs(logs or {})
    return flat.get("loss")


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
        weighted: bool = False,
        nonfinite: Any = "raise",
        participants: Sequence[Any] = (),
    ) -> None:
        self.model = model
        _, self.optimizer = model.require_compiled(method)
        self.needs: TrainingNeeds = needs_of(self.optimizer)
        # A model that overrides train_step (test_step) trains (evaluates) its own way.
        self.custom_train = steps.overrides(model, "train_step")
        self.custom_test = steps.overrides(model, "test_step")
        needing = [type(self.optimizer).__name__] if self.needs.autograd else []
        needing += [type(cb).__name__ for cb in callbacks or [] if cb.needs_autograd]
        needing += [p.name for p in participants if p.needs_autograd]
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
        self.guard = StepGuard(model, self.optimizer, nonfinite_policy(nonfinite))
        self.evaluations = 0

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """The forward pass's precision: the mixed policy's autocast, or as it is."""
        return self.precision.autocast() if self.precision is not None else contextlib.nullcontext()

    def trackers(self) -> list[metrics.Metric]:
        return list(self.model.metrics)

    def state_dict(self) -> dict[str, Any]:
        """The trainer's counters and the loss scale (a run resumed from a backup carries
        them on)."""
        scaler = {} if self.precision is None else self.precision.scaler.state_dict()
        return {"evaluations": self.evaluations, "loss_scaler": scaler}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.evaluations = check_count("evaluations", state["evaluations"], minimum=0)
        scaler = state.get("loss_scaler") or {}
        if self.precision is not None and scaler:
            self.precision.scaler.load_state_dict(scaler)

    def reset(self) -> None:
        self.step_logs = None
        for tracker in self.trackers():
            tracker.reset_state()

    def results(self) -> dict[str, float]:
        """The running results, by name in sorted order (as Keras hands logs over)."""
        if self.step_logs is not None:
            return dict(sorted(steps.flatten_logs(self.step_logs).items()))
        return dict(sorted((t.name, float(t.result())) for t in self.trackers()))

    def lazy_results(self, training: bool = False) -> LazyLogs:
        """The running results as batch logs, read on demand; in training, once the run
        has skipped a step, they count the epoch's ``skipped_steps`` too."""
        getters: dict[str, Callable[[], float]]
        if self.step_logs is not None:
            logs = steps.flatten_logs(self.step_logs)
            getters = {name: _constant(value) for name, value in logs.items()}
        else:
            getters = {t.name: _reader(t) for t in self.trackers()}
        if training and self.guard.skipped_in_run:
            getters["skipped_steps"] = lambda: float(self.guard.skipped_in_epoch)
        return LazyLogs(dict(sorted(getters.items())))

    def record(self, batch: Batch, cost: torch.Tensor, outputs: Any) -> None:
        self.loss_tracker.update_state(cost, sample_weight=len(batch))
        if self.model.compiled_metrics and batch.y is not None:
            predictions = self.objective.to_prediction(outputs)
            for metric in self.model.compiled_metrics:
                metric.update_state(batch.y, predictions, sample_weight=batch.sample_weight)

    def train_step(self, batch: Batch, progress: Progress | None = None) -> None:
        """One optimizer step on a minibatch; its loss and metrics recorded. ``progress``
        reaches an optimizer that declares ``progress`` (long steps).

        The closure's first evaluation is made here, before ``step``, so that the
        :class:`~deepdescent.training.numerics.StepGuard` can refuse a step whose loss or
        gradient is not finite; the optimizer's first call of the closure returns that
        evaluation (its gradient is in place), later calls evaluate afresh. A model's own
        ``train_step`` applies its step itself: the guard watches the loss it returns."""
        if self.custom_train:
            self.step_logs = self.guard.watch_applied(
                lambda: self.model.train_step(batch.data()), _logged_loss
            )
            return
        x, y, weights = batch.x, batch.y, batch.sample_weight
        if self.precision is not None:
            # Under loss scaling an overflowing gradient is the scaler's to skip: the guard
            # looks at the loss alone.
            scaled = self.precision.scaler.is_enabled()
            admitted: list[bool] = []

            def admit(cost: torch.Tensor) -> bool:
                admitted.append(self.guard.admit(cost, gradients=not scaled))
                return admitted[-1]

            self.evaluations += 1
            cost, outputs = self.precision.step(
                self.model, self.objective, self.optimizer, x, y, weights, admit=admit
            )
            if admitted[-1]:
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

        if self.needs.model_outputs and weights is not None:
            raise ValueError(
                f"{type(self.optimizer).__name__} takes the minibatch's outputs and loss "
                "unweighted: train it without sample_weight or class_weight"
            )
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
        self.record(batch, *first[0])

    def train_epoch(
        self,
        batches: Iterable[Batch],
        callbacks: CallbackList,
        after_batch: Callable[[int], None] | None = None,
        first_index: int = 0,
    ) -> None:
        """Train on ``batches`` (the rest of an epoch, whose batch ``first_index`` comes
        first) or until a callback stops training; ``after_batch(index)`` runs once every
        callback has seen the batch (backups are taken there). The trackers carry on from
        where they are: :meth:`reset` them at the start of an epoch."""
        self.model.train()
        wants_logs = callbacks.listens("on_train_batch_end")
        reports = self.needs.progress and callbacks.listens("on_train_batch_progress")
        for index, batch in enumerate(batches, start=first_index):
            callbacks.on_train_batch_begin(index)
            self.train_step(batch, callbacks.progress_of(index) if reports else None)
            logs = self.lazy_results(training=True) if wants_logs else None
            callbacks.on_train_batch_end(index, logs)
            if after_batch is not None:
                after_batch(index)
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
    nonfinite: Any = "raise",
    distributed: bool | None = None,
) -> History:
    """``Model.fit``: see its docstring."""
    data = data or DataOptions()
    level = verbose_level(verbose)
    callbacks = check_callbacks(callbacks)
    epochs = check_count("epochs", epochs, minimum=0)
    initial_epoch = check_count("initial_epoch", initial_epoch, minimum=0)
    if initial_epoch > epochs:
        raise ValueError(
            f"Invalid initial_epoch: {initial_epoch} (expected <= epochs={epochs}): as in "
            "Keras, epochs is the index of the epoch to stop at, not a number of more epochs"
        )
    check_count("validation_freq", data.validation_freq)
    policy = nonfinite_policy(nonfinite)
    # A batch method (line searches, (L-)BFGS, Newton) takes the whole training set per
    # step (the batch method of §8.1.3) unless a batch size is given.
    full_batch = batch_size is None and needs_of(model.require_compiled("fit")[1]).full_batch
    batch_size = check_batch_size(batch_size)
    validation_batch_size = (
        batch_size
        if validation_batch_size is None
        else check_batch_size(validation_batch_size, "validation_batch_size")
    )
    if validation_data is not None and validation_split:
        warnings.warn(
            f"fit got both validation_data and validation_split={validation_split}: "
            "validation_data is used and validation_split ignored, as in Keras",
            stacklevel=3,
        )
        validation_split = 0.0
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
    backup = backup_callback(callbacks)
    if backup is not None:
        _check_resumable(train, data)
    parallel = resolve_distributed(distributed, model)
    if parallel is not None:
        _check_parallel(model, train, data)
        if not parallel.is_primary:
            level = 0  # only rank 0 prints
    bind_optimizer(model)
    callback_list = CallbackList(callbacks, add_history=True, add_progbar=level > 0, model=model)
    participants = [parallel] if parallel is not None else []
    trainer = Trainer(
        model,
        callback_list,
        weighted=train.weighted,
        nonfinite=policy,
        participants=participants,
    )
    model.trainer = trainer  # callbacks read its counters (``evaluations``)
    if parallel is not None:
        parallel.check_optimizer(trainer.needs, trainer.optimizer)
        train = ArraySource(parallel.make_batches(cast(ArraySource, train).iterator))
        trainer.objective = parallel.objective(trainer.objective, trainer.needs)
        trainer.guard.agree = parallel.agree
    callback_list.set_params({"verbose": level, "epochs": epochs, "steps": train.steps})
    if level == 2:
        emit(None, f"Gradients: {trainer.gradient_path.name} ({trainer.gradient_path.reason})")
    run = EpochLoop(trainer, train, callback_list, validation, data.validation_freq, parallel)
    run.report_compile = level == 2
    run.run(initial_epoch, epochs)
    return cast(History, model.history)


def _check_resumable(train: BatchSource, data: DataOptions) -> None:
    """A backup resumes bit for bit from the arrays' iterator (its generator and
    position): a source without one is refused before step one."""
    check_argument(
        "steps_per_epoch",
        data.steps_per_epoch,
        data.steps_per_epoch is None,
        "None with BackupAndRestore (epochs cut from a stream that carries on across them "
        "have no position a backup can hold)",
    )
    if not isinstance(train, ArraySource):
        raise ValueError(
            "Invalid x: a dataset, DataLoader or generator with BackupAndRestore (expected "
            "arrays: a backup resumes bit for bit from the position and random order of "
            "fit's own minibatch iterator, which such an input does not have; pass the "
            "data as arrays, or train without BackupAndRestore)"
        )


def _check_parallel(model: Model, train: BatchSource, data: DataOptions) -> None:
    """What a data-parallel run takes: arrays cut into shares by every process alike,
    unweighted, through the model's own step (refused before step one otherwise)."""
    check_argument(
        "steps_per_epoch",
        data.steps_per_epoch,
        data.steps_per_epoch is None,
        "None in a data-parallel fit (every process draws the same epochs of arrays)",
    )
    if not isinstance(train, ArraySource):
        raise ValueError(
            "Invalid x: a dataset, DataLoader or generator in a data-parallel fit (expected "
            "arrays: every process draws the same minibatches from them and trains on its "
            "share; pass arrays, or distributed=False)"
        )
    check_argument(
        "sample_weight",
        "given" if train.weighted else None,
        not train.weighted,
        "None in a data-parallel fit (each process's loss is its share of the unweighted "
        "mean; no class_weight either)",
    )
    for method in ("train_step", "test_step"):
        check_argument(
            method,
            f"{type(model).__name__}.{method}",
            not steps.overrides(model, method),
            "the default in a data-parallel fit (an own step would bypass the gradient "
            "all-reduce, and each process would train a model of its own)",
        )
    check_argument(
        "dtype_policy",
        getattr(getattr(model, "dtype_policy", None), "name", None),
        precision_of(model) is None,
        "a plain (not mixed) precision in a data-parallel fit",
    )


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


def backup_callback(callbacks: Iterable[Callback]) -> BackupAndRestore | None:
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
        train: the training minibatches (arrays' when there are backups).
        callbacks: the run's callbacks.
        validation: the validation batches, or ``None``.
        validation_freq: validate after every ``validation_freq``-th epoch.
        parallel: this process's part of a data-parallel run, or ``None``.
    """

    def __init__(
        self,
        trainer: Trainer,
        train: BatchSource,
        callbacks: CallbackList,
        validation: BatchSource | None,
        validation_freq: int = 1,
        parallel: DataParallel | None = None,
    ) -> None:
        self.trainer, self.train, self.callbacks = trainer, train, callbacks
        self.parallel = parallel
        self.primary = parallel is None or parallel.is_primary
        self.model = trainer.model
        self.validation, self.validation_freq = validation, validation_freq
        self.backup = backup_callback(callbacks)
        self.store = None if self.backup is None else BackupStore(self.backup.backup_dir)
        self.parts: RunParts | None = None
        if self.backup is not None:
            self.parts = RunParts(
                self.model,
                trainer.optimizer,
                cast(ArraySource, train).iterator,
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
                    source = cast(ArraySource, self.train)
                    self.trainer.train_epoch(
                        source.rest_of_epoch(),
                        self.callbacks,
                        self._after_batch,
                        first_index=source.iterator.position,
                    )
            elif self.model.stop_training:
                break
            else:
                self._begin_epoch(epoch)
                self.trainer.train_epoch(self.train.epoch(epoch), self.callbacks, self._after_batch)
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
        if trainer.guard.skipped_in_run:
            logs["skipped_steps"] = float(trainer.guard.skipped_in_epoch)
        if self.validation is not None and (epoch + 1) % self.validation_freq == 0:
            logs.update(validate(trainer, self.validation, self.callbacks))
        logs = dict(sorted(logs.items()))
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
        assert self.store is not None and self.parts is not None
        position = Position(self.epoch, self.parts.batches.position, finished, self.step)
        state = capture(self.parts, position, self.logs)
        if self.primary:
            self.store.write(state)

    def _resume(self) -> Position | None:
        """Load the newest backup, if any; returns where the run was."""
        if self.store is None or self.parts is None:
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
    if trainer.guard.skipped_in_epoch:
        warnings.warn(
            "train_on_batch: the step was not applied, its loss or gradient is not finite "
            "(the logs returned are those before this batch)",
            RuntimeWarning,
            stacklevel=3,
        )
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
