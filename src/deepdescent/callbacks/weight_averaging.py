r"""Averaged weights during training: Polyak averaging and stochastic weight averaging.

Polyak averaging (Goodfellow et al., *Deep Learning*, §8.7.3; Polyak & Juditsky 1992)
keeps, besides the iterates θ(i), their average. :class:`PolyakAveraging` keeps either the
arithmetic mean of the iterates after every update,

.. math::
    \hat θ^{(t)} = \frac1t \sum_{i=1}^{t} θ^{(i)},

or, for non-convex problems where old points of the trajectory should be forgotten, the
exponentially decaying average (eq. 8.40)

.. math::
    \hat θ^{(t)} = α \hat θ^{(t-1)} + (1 - α) θ^{(t)}, \qquad \hat θ^{(1)} = θ^{(1)}.

:class:`StochasticWeightAveraging` (Izmailov et al. 2018, *Averaging Weights Leads to
Wider Optima and Better Generalization*, Algorithm 1) takes the arithmetic mean of the
starting weights and of the weights at the end of each cycle of a cyclic learning rate.

Both are one running average written once (:class:`RunningAverage`): the t-th point
enters as ``θ̂ ← θ̂ + w (θ − θ̂)``, with ``w = 1/t`` for the mean and ``w = 1 − α`` for
the decaying form (``w = 1`` for the first point), one multi-tensor ``lerp`` on the
parameters' device, with no host synchronization per batch.

Logs. Keras has no such callback; when given ``validation_data`` these evaluate the model
with the averaged weights at the end of every epoch and add the results to the epoch's
logs as ``"val_" + name + suffix`` — ``val_loss_avg``, ``val_accuracy_avg`` for Polyak
averaging, ``val_loss_swa`` for SWA — so History, CSVLogger, EarlyStopping and
ModelCheckpoint placed *after* them in the list can use them.

Warning:
    Only the trainable parameters are averaged. Statistics kept in buffers (a
    ``BatchNormalization`` layer's moving mean and variance) are left as they are: they
    do not match averaged weights, and need recomputing with a pass over the training
    data in training mode, as Izmailov et al. do.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import torch

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs
from deepdescent.optimizers.averaging import RunningAverage
from deepdescent.utils._checks import check_argument, check_count, is_real

__all__ = ["PolyakAveraging", "RunningAverage", "StochasticWeightAveraging"]


def _check_validation_data(validation_data: Any) -> None:
    ok = validation_data is None or (
        isinstance(validation_data, (tuple, list)) and len(validation_data) == 2
    )
    check_argument("validation_data", validation_data, ok, "None or a tuple (x_val, y_val)")


class _WeightAveraging(Callback):
    """What both averaging callbacks share: when to average is :meth:`_due`'s to say."""

    suffix = ""

    def __init__(
        self,
        momentum: float | None,
        validation_data: Any,
        batch_size: int | None,
        swap_on_train_end: bool,
        filepath: str | os.PathLike[str] | None,
    ) -> None:
        super().__init__()
        _check_validation_data(validation_data)
        if filepath is not None:
            path = os.fspath(filepath)
            check_argument("filepath", path, path.endswith(".safetensors"), "a .safetensors name")
        self.momentum, self.validation_data, self.batch_size = momentum, validation_data, batch_size
        self.swap_on_train_end = bool(swap_on_train_end)
        self.filepath = None if filepath is None else os.fspath(filepath)
        self.steps = 0  # updates seen, over every fit this callback served
        self._running: RunningAverage | None = None
        self._params: list[torch.Tensor] = []
        self._averaged_at: int | None = None
        self._validation: tuple[torch.Tensor, torch.Tensor] | None = None

    def _due(self, step: int) -> bool:
        """Whether the weights after ``step`` updates enter the average."""
        raise NotImplementedError

    @property
    def averaged_weights(self) -> list[torch.Tensor]:
        """θ̂, one tensor per trainable parameter of the model (empty before training)."""
        return [] if self._running is None else self._running.average

    @property
    def count(self) -> int:
        """How many points θ̂ averages."""
        return 0 if self._running is None else self._running.count

    def swap_weights(self) -> None:
        """Exchange the model's weights and θ̂ (calling it twice restores both)."""
        if self._running is None:
            raise RuntimeError("There are no averaged weights yet: train the model first")
        self._running.swap(self._params)

    @contextmanager
    def _averaged_model(self) -> Iterator[None]:
        self.swap_weights()
        try:
            yield
        finally:
            self.swap_weights()

    def _average_if_due(self) -> None:
        if self._due(self.steps) and self._averaged_at != self.steps:
            self._running.update(self._params)  # type: ignore[union-attr]
            self._averaged_at = self.steps

    def on_train_begin(self, logs: Logs | None = None) -> None:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self._running is None:
            self._running = RunningAverage(params, self.momentum)
        self._params = params
        if self.validation_data is not None:
            x, y = self.validation_data
            self._validation = self.model.prepare_data(x, y, names=("x_val", "y_val"))
        self._average_if_due()

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.steps += 1
        self._average_if_due()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._validation is None or self.count == 0 or not isinstance(logs, MutableMapping):
            return
        with self._averaged_model():
            results = self.model.evaluate(
                *self._validation, batch_size=self.batch_size, verbose=0, return_dict=True
            )
        for name, value in results.items():
            logs[f"val_{name}{self.suffix}"] = value

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.count == 0:
            if self.swap_on_train_end or self.filepath is not None:
                warnings.warn(
                    f"{type(self).__name__} averaged no weights (training ended before its "
                    "start), so it neither swaps them in nor saves them",
                    stacklevel=2,
                )
            return
        if self.swap_on_train_end:
            self.swap_weights()
        if self.filepath is not None:
            if self.swap_on_train_end:
                self.model.save_weights(self.filepath)
            else:
                with self._averaged_model():
                    self.model.save_weights(self.filepath)

    def state_dict(self) -> dict[str, Any]:
        running = self._running
        return {
            "steps": self.steps,
            "averaged_at": self._averaged_at,
            "average": None if running is None else running.average,
            "count": 0 if running is None else running.count,
        }

    @torch.no_grad()
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.steps = int(state["steps"])
        self._averaged_at = None if state["averaged_at"] is None else int(state["averaged_at"])
        if state["average"] is not None and self._running is not None:
            torch._foreach_copy_(self._running.average, list(state["average"]))
            self._running.count = int(state["count"])

    def _base_config(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "swap_on_train_end": self.swap_on_train_end,
            "filepath": self.filepath,
        }


class PolyakAveraging(_WeightAveraging):
    """Keep the Polyak average θ̂ of the weights after every update (§8.7.3).

    Args:
        momentum: ``None`` (default) for the arithmetic mean ``θ̂(t) = (1/t) Σ θ(i)``;
            α in [0, 1) for ``θ̂ ← αθ̂ + (1 − α)θ`` (Keras's ``ema_momentum`` is 0.99).
        start: the number of updates to let pass first; the average is over θ(i),
            i > ``start`` (0: the book's, from the first update).
        validation_data: ``(x_val, y_val)`` to evaluate the averaged weights on at the end
            of each epoch, logged as ``val_loss_avg`` and ``val_<metric>_avg``.
        batch_size: the batch size of that evaluation (default 32).
        swap_on_train_end: put θ̂ into the model when ``fit`` ends (the callback then
            holds the last iterate; :meth:`swap_weights` exchanges them back).
        filepath: a ``.safetensors`` file to save the model with θ̂ to when ``fit`` ends
            (``model.save_weights``, atomic).

    The optimizer option ``use_ema=True`` averages inside the optimizer instead; this
    callback works with any optimizer, evaluates and saves θ̂, and leaves the model alone.
    """

    suffix = "_avg"

    def __init__(
        self,
        momentum: float | None = None,
        start: int = 0,
        validation_data: Any = None,
        batch_size: int | None = None,
        swap_on_train_end: bool = False,
        filepath: str | os.PathLike[str] | None = None,
    ) -> None:
        ok = momentum is None or (
            is_real(momentum)
            and not isinstance(momentum, bool)
            and math.isfinite(momentum)
            and 0 <= momentum < 1
        )
        check_argument("momentum", momentum, ok, "None or a number in [0, 1)")
        check_count("start", start, minimum=0)
        super().__init__(momentum, validation_data, batch_size, swap_on_train_end, filepath)
        self.start = start

    def _due(self, step: int) -> bool:
        return step > self.start

    def get_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "start": self.start, **self._base_config()}


class StochasticWeightAveraging(_WeightAveraging):
    """Stochastic weight averaging, SWA (Izmailov et al. 2018, Algorithm 1).

    The average is the arithmetic mean of ŵ = θ(``start``) and of θ(``start`` + j c),
    j = 1, 2, …: the weights at the end of each cycle of c updates, where a cyclic
    learning rate is lowest. Pair it with a cyclic schedule of the same period on the
    optimizer, counted from the same first update, e.g.
    ``SGD(learning_rate=CosineDecayRestarts(0.05, c, t_mul=1.0, alpha=0.02))``, or
    with a constant learning rate and ``cycle_length=1`` (the paper's other variant).
    Updates are counted by the callback from its first batch.

    Args:
        cycle_length: c, the cycle's length in updates (an int >= 1).
        start: the update count at which averaging starts (ŵ = θ(start); 0 is the
            weights ``fit`` starts from, which is the paper's pre-trained ŵ).
        validation_data, batch_size, swap_on_train_end, filepath: as for
            :class:`PolyakAveraging`; the logs are ``val_loss_swa``, ``val_<metric>_swa``.

    Warning:
        Izmailov et al. recompute batch-normalization statistics for the averaged
        weights; deepdescent has no batch normalization yet, so nothing is recomputed.
    """

    suffix = "_swa"

    def __init__(
        self,
        cycle_length: int = 1,
        start: int = 0,
        validation_data: Any = None,
        batch_size: int | None = None,
        swap_on_train_end: bool = False,
        filepath: str | os.PathLike[str] | None = None,
    ) -> None:
        ok = isinstance(cycle_length, int) and not isinstance(cycle_length, bool)
        check_argument("cycle_length", cycle_length, ok and cycle_length >= 1, "an int >= 1")
        check_count("start", start, minimum=0)
        super().__init__(None, validation_data, batch_size, swap_on_train_end, filepath)
        self.cycle_length, self.start = cycle_length, start

    def _due(self, step: int) -> bool:
        return step >= self.start and (step - self.start) % self.cycle_length == 0

    def get_config(self) -> dict[str, Any]:
        return {"cycle_length": self.cycle_length, "start": self.start, **self._base_config()}
