"""Models of several outputs: a loss (and metrics) per output, as Keras's ``compile`` takes
them — lists in output order or dicts by output name, ``loss_weights``, ``None`` for an
output left out of the cost.

The cost is J = Σₖ wₖ Lₖ(yₖ, ŷₖ) over the outputs with a loss; the logs add each
output's loss (``<output>_loss``) and metric (``<output>_<metric>``), as Keras's do.
Targets may be given as a list over the outputs with a loss, a list over all outputs, or
a dict by output name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from deepdescent import losses, metrics
from deepdescent.utils._checks import check_argument, is_number

__all__ = ["OutputLoss", "OutputLosses", "OutputMetric", "output_metrics"]


def _per_output(value: Any, names: Sequence[str], argument: str) -> list[Any]:
    """``value`` spread over the outputs: a dict by name, a list in order, or one value
    for every output."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        check_argument(argument, unknown, not unknown, f"output names among {list(names)}")
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)):
        check_argument(
            argument,
            f"{len(value)} entries",
            len(value) == len(names),
            f"one entry per output ({len(names)}: {list(names)})",
        )
        return list(value)
    return [value] * len(names)


def _component(value: Any, index: int, name: str) -> Any:
    """The part of an outputs' (or targets') structure that belongs to one output."""
    return value[name] if isinstance(value, Mapping) else value[index]


class OutputLosses(losses.Loss):
    """Σₖ wₖ Lₖ(yₖ, ŷₖ) over the outputs that have a loss.

    Args:
        names: the outputs' names, in the model's output order.
        per_output: a loss (or ``None``) per output.
        weights: wₖ per output.
    """

    def __init__(
        self,
        names: Sequence[str],
        per_output: Sequence[losses.Loss | None],
        weights: Sequence[float],
    ) -> None:
        super().__init__(name="loss")
        self.names, self.per_output, self.weights = list(names), list(per_output), list(weights)
        if all(loss is None for loss in self.per_output):
            raise ValueError("Invalid loss: every output's loss is None (expected at least one)")
        self.with_loss = [i for i, loss in enumerate(self.per_output) if loss is not None]

    @classmethod
    def from_compile(cls, names: Sequence[str], loss: Any, loss_weights: Any) -> OutputLosses:
        """Build from ``compile``'s ``loss`` and ``loss_weights`` arguments."""
        per_output = [
            None if entry is None else losses.get(entry)
            for entry in _per_output(loss, names, "loss")
        ]
        weights = _per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights")
        weights = [1.0 if w is None else w for w in weights]
        for weight in weights:
            check_argument("loss_weights", weight, is_number(weight), "numbers")
        return cls(names, per_output, [float(w) for w in weights])

    def targets(self, y_true: Any, index: int) -> Any:
        """Output ``index``'s targets: by name, by position among all outputs, or by
        position among the outputs with a loss."""
        if isinstance(y_true, Mapping):
            return y_true[self.names[index]]
        if isinstance(y_true, (list, tuple)):
            if len(y_true) == len(self.names):
                return y_true[index]
            if len(y_true) == len(self.with_loss):
                return y_true[self.with_loss.index(index)]
            raise ValueError(
                f"y has {len(y_true)} arrays for {len(self.names)} outputs "
                f"({len(self.with_loss)} with a loss)"
            )
        if len(self.with_loss) == 1:
            return y_true
        raise ValueError(f"y must be a list or dict of targets, one per output {self.names}")

    def term(self, index: int, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """wₖ Lₖ(yₖ, ŷₖ) for output ``index`` (unweighted by wₖ)."""
        loss = self.per_output[index]
        assert loss is not None
        prediction = _component(y_pred, index, self.names[index])
        return loss(self.targets(y_true, index), prediction, sample_weight)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        terms = [
            self.weights[i] * self.term(i, y_true, y_pred, sample_weight) for i in self.with_loss
        ]
        return torch.stack(terms).sum()

    def validate_targets(self, y_true_shape: Any, output_shape: Any) -> None:
        """Each output's loss checks its own targets when called."""

    def get_config(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "per_output": [
                None if loss is None else losses.serialize(loss) for loss in self.per_output
            ],
            "weights": self.weights,
        }


class OutputLoss(metrics.Metric):
    """The running mean of one output's loss, logged as ``<output>_loss``."""

    def __init__(self, combined: OutputLosses, index: int) -> None:
        super().__init__(name=f"{combined.names[index]}_loss")
        self.combined, self.index = combined, index
        self.mean = metrics.Mean(name=self.name)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        value = self.combined.term(self.index, y_true, y_pred, sample_weight)
        prediction = _component(y_pred, self.index, self.combined.names[self.index])
        self.mean.update_state(value.detach(), sample_weight=len(prediction))

    def result(self) -> torch.Tensor:
        return self.mean.result()

    def reset_state(self) -> None:
        self.mean.reset_state()


class OutputMetric(metrics.Metric):
    """A metric of one output, logged as ``<output>_<metric>``; Keras's ``"accuracy"``
    resolves on the first batch from that output's loss and shapes."""

    def __init__(self, identifier: Any, names: Sequence[str], index: int, loss: Any) -> None:
        self.names, self.index, self.loss = list(names), index, loss
        self.identifier = identifier
        self.metric: metrics.Metric | None = (
            identifier if isinstance(identifier, metrics.Metric) else None
        )
        base = (
            self.metric.name
            if self.metric is not None
            else (identifier if isinstance(identifier, str) else metrics.get(identifier).name)
        )
        super().__init__(name=f"{self.names[index]}_{base}")

    def _targets(self, y_true: Any) -> Any:
        if isinstance(self.loss, OutputLosses):
            return self.loss.targets(y_true, self.index)
        return _component(y_true, self.index, self.names[self.index])

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        target = self._targets(y_true)
        prediction = _component(y_pred, self.index, self.names[self.index])
        if self.metric is None:
            own_loss = (
                self.loss.per_output[self.index] if isinstance(self.loss, OutputLosses) else None
            )
            self.metric = metrics.get(
                self.identifier,
                loss=own_loss,
                y_true_shape=tuple(target.shape),
                output_shape=tuple(prediction.shape),
            )
        self.metric.update_state(target, prediction, sample_weight=sample_weight)

    def result(self) -> torch.Tensor:
        return self.metric.result() if self.metric is not None else torch.zeros(())

    def reset_state(self) -> None:
        if self.metric is not None:
            self.metric.reset_state()


def output_metrics(
    names: Sequence[str], identifiers: Any, loss: losses.Loss | None
) -> list[metrics.Metric]:
    """The logged metrics of a model of several outputs: each output's loss (when more
    than one output has a loss), then ``compile``'s metrics per output — a list per output,
    a dict by name, or one list for every output."""
    tracked: list[metrics.Metric] = []
    if isinstance(loss, OutputLosses) and len(loss.with_loss) > 1:
        tracked += [OutputLoss(loss, i) for i in loss.with_loss]
    if identifiers is None:
        return tracked
    nested = isinstance(identifiers, Mapping) or (
        isinstance(identifiers, (list, tuple))
        and any(isinstance(entry, (list, tuple)) or entry is None for entry in identifiers)
    )
    per_output = (
        _per_output(identifiers, names, "metrics") if nested else [identifiers] * len(names)
    )
    for index, entries in enumerate(per_output):
        for identifier in (
            []
            if entries is None
            else (entries if isinstance(entries, (list, tuple)) else [entries])
        ):
            tracked.append(OutputMetric(identifier, names, index, loss))
    return tracked
