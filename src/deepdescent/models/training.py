"""The trainer: the one loop behind ``fit``, ``evaluate`` and ``predict``.

Data are moved to the model's device once; each epoch draws minibatches by a fresh
permutation (the chapter's shuffling, Goodfellow et al. §8.1.3); losses and metrics
accumulate on the device, so a step never waits for the host; the optimizer always gets a
closure, so methods that re-evaluate the loss (line searches, L-BFGS) work unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from deepdescent import activations, losses, metrics
from deepdescent.callbacks import CallbackList, History, LazyLogs

if TYPE_CHECKING:
    from deepdescent.models.model import Model

DEFAULT_BATCH_SIZE = 32

LossFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Objective:
    """How a model's outputs become the cost and the predictions the metrics see.

    When the model ends in the activation that the loss can take as logits (softmax
    before categorical cross-entropy, sigmoid before binary cross-entropy) the cost is
    computed from the pre-activation outputs with the stable log-softmax/log-sigmoid form,
    as Keras does; predictions are the activation of those outputs.
    """

    model: Model
    forward: Callable[[torch.Tensor], torch.Tensor]
    loss: losses.Loss
    to_prediction: Callable[[torch.Tensor], torch.Tensor]
    penalty: Callable[[], torch.Tensor] | None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cost J(θ) on ``(x, y)`` and the model's (pre-activation) outputs."""
        outputs = self.forward(x)
        cost = self.loss(y, outputs)
        if self.penalty is not None:
            cost = cost + self.penalty()
        return cost, outputs

    def value_and_grad(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cost and outputs (detached), with ∇θJ left in the parameters' ``.grad``."""
        self.model.zero_grad(set_to_none=True)
        cost, outputs = self(x, y)
        cost.backward()
        return cost.detach(), outputs.detach()


def make_objective(model: Model, backprop: str = "auto") -> Objective:
    """The model's objective; ``backprop`` is ``"autograd"``, ``"manual"`` (the layers'
    hand-written backward passes, see :mod:`deepdescent.models.backprop`) or ``"auto"``
    (manual when every layer supports it)."""
    from deepdescent.models.backprop import BackpropObjective, supports_backprop

    if backprop not in ("auto", "autograd", "manual"):
        raise ValueError(
            f"Invalid backprop: {backprop!r} (expected 'auto', 'autograd' or 'manual')"
        )
    loss, _ = model.require_compiled("fit")
    fused = model.output_activation()
    fold = (
        fused is not None
        and fused == getattr(loss, "output_activation", None)
        and not (getattr(loss, "from_logits", True))
    )
    penalty = model.regularization_loss if model.has_regularizers() else None
    parts = (
        model,
        model.forward_pre_activation if fold else model.forward,
        loss.with_logits() if fold else loss,
        activations.get(fused) if fold else _identity,
        penalty,
    )
    manual = backprop == "manual" or (backprop == "auto" and supports_backprop(model))
    if manual:
        if not supports_backprop(model):
            raise ValueError(
                "backprop='manual' needs a Sequential whose layers all have "
                "hand-written backward passes and no regularizers"
            )
        return BackpropObjective(*parts, fold=fold)
    return Objective(*parts)


def _identity(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def _reader(metric: metrics.Metric) -> Callable[[], float]:
    return lambda: float(metric.result())


# -- data ------------------------------------------------------------------------------


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
    if batch_size is None:
        return DEFAULT_BATCH_SIZE
    if (
        not isinstance(batch_size, (int, np.integer))
        or isinstance(batch_size, bool)
        or (batch_size <= 0)
    ):
        raise ValueError(f"Invalid {argument}: {batch_size!r} (expected a positive int)")
    return int(batch_size)


def split_validation(
    x: torch.Tensor, y: torch.Tensor, fraction: float
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor] | None]:
    """Keras's ``validation_split``: the *last* ``fraction`` of the samples, before shuffling."""
    if not isinstance(fraction, (int, float)) or not 0.0 <= fraction < 1.0:
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


# -- the loop --------------------------------------------------------------------------


class Trainer:
    """Runs epochs of minibatch optimization for one compiled model."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.objective = make_objective(model, model.backprop)
        self.loss_tracker = metrics.Mean(name="loss")
        self.metrics = model.compiled_metrics

    def trackers(self) -> list[metrics.Metric]:
        return [self.loss_tracker, *self.metrics]

    def reset(self) -> None:
        for tracker in self.trackers():
            tracker.reset_state()

    def results(self, prefix: str = "") -> dict[str, float]:
        return {prefix + t.name: float(t.result()) for t in self.trackers()}

    def lazy_results(self) -> LazyLogs:
        return LazyLogs({t.name: _reader(t) for t in self.trackers()})

    def record(self, y: torch.Tensor, cost: torch.Tensor, outputs: torch.Tensor) -> None:
        self.loss_tracker.update_state(cost, sample_weight=len(y))
        if self.metrics:
            predictions = self.objective.to_prediction(outputs)
            for metric in self.metrics:
                metric.update_state(y, predictions)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        _, optimizer = self.model.require_compiled("fit")
        first: list[tuple[torch.Tensor, torch.Tensor]] = []

        def closure() -> torch.Tensor:
            cost, outputs = self.objective.value_and_grad(x, y)
            if not first:
                first.append((cost, outputs))
            return cost

        optimizer.step(cast(Any, closure))
        self.record(y, *first[0])

    def train_epoch(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool,
        callbacks: CallbackList,
    ) -> None:
        self.model.train()
        self.reset()
        order = torch.randperm(len(x), device=x.device) if shuffle else None
        wants_logs = callbacks.listens("on_train_batch_end")
        for batch, start in enumerate(range(0, len(x), batch_size)):
            callbacks.on_train_batch_begin(batch)
            if order is None:
                xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            else:
                index = order[start : start + batch_size]
                xb, yb = x.index_select(0, index), y.index_select(0, index)
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


def fit(
    model: Model,
    x: Any,
    y: Any,
    *,
    batch_size: int | None,
    epochs: int,
    verbose: Any,
    callbacks: list | None,
    validation_split: float,
    validation_data: Any,
    shuffle: bool,
    initial_epoch: int,
    validation_batch_size: int | None,
) -> History:
    _, optimizer = model.require_compiled("fit")
    full_batch = batch_size is None and getattr(optimizer, "requires_closure", False)
    batch_size = check_batch_size(batch_size)
    validation_batch_size = check_batch_size(
        validation_batch_size or batch_size, "validation_batch_size"
    )
    for argument, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"Invalid {argument}: {value!r} (expected an int >= 0)")
    x_all, y_all = model.prepare_data(x, y)
    validation: tuple[torch.Tensor, torch.Tensor] | None
    if validation_data is not None:
        train = (x_all, y_all)
        validation = model.prepare_data(
            *_unpack_validation(validation_data), names=("x_val", "y_val")
        )
    else:
        train, validation = split_validation(x_all, y_all, validation_split)
    if full_batch:
        # Methods that re-evaluate the loss (line searches, (L-)BFGS, Newton) default to
        # the whole training set per step: the batch method of §8.1.3.
        batch_size = len(train[0])
    trainer = Trainer(model)
    steps = math.ceil(len(train[0]) / batch_size)
    callback_list = CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose_level(verbose) > 0,
        model=model,
        verbose=verbose_level(verbose),
        epochs=epochs,
        steps=steps,
    )
    model.stop_training = False
    callback_list.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        _optimizer_mode(optimizer, training=True)
        trainer.train_epoch(*train, batch_size, shuffle, callback_list)
        # Schedule-Free keeps two points: gradients are taken at y, the average x is the
        # one to evaluate, checkpoint and return (Defazio et al. 2024).
        _optimizer_mode(optimizer, training=False)
        logs = trainer.results()
        if validation is not None:
            logs.update(trainer.evaluate(*validation, validation_batch_size, prefix="val_"))
        if hasattr(optimizer, "learning_rate"):
            logs["learning_rate"] = float(optimizer.learning_rate)
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    if getattr(optimizer, "use_ema", False):
        cast(Any, optimizer).finalize_variable_values()
    callback_list.on_train_end(logs)
    return cast(History, model.history)


def _optimizer_mode(optimizer: torch.optim.Optimizer, training: bool) -> None:
    """Call the optimizer's ``train()``/``eval()`` when it has them (Schedule-Free)."""
    switch = getattr(optimizer, "train" if training else "eval", None)
    if callable(switch):
        switch()


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
    model: Model, x: Any, y: Any, *, batch_size: int | None, verbose: Any, callbacks: list | None
) -> dict[str, float]:
    batch_size = check_batch_size(batch_size)
    x_t, y_t = model.prepare_data(x, y)
    level = verbose_level(verbose)
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
    logs = Trainer(model).evaluate(x_t, y_t, batch_size, callback_list)
    callback_list.on_test_end(logs)
    return logs


@torch.no_grad()
def predict(model: Model, x: Any, *, batch_size: int | None) -> np.ndarray:
    batch_size = check_batch_size(batch_size)
    x_t = model.prepare_inputs(x)
    model.eval()
    outputs = [model(x_t[start : start + batch_size]) for start in range(0, len(x_t), batch_size)]
    return torch.cat(outputs).cpu().numpy()
