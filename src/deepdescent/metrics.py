"""Stateful metrics that accumulate on the device, with Keras 3's names and semantics.

A metric keeps running sums as tensors on the inputs' device: ``update_state`` adds to them
in place and never reads a value back to the host, so it can run every step; ``result()``
returns a 0-d tensor that the caller reads when it wants (once per epoch, say). The state's
dtype is the input's floating dtype promoted to at least float32 (float64 stays float64,
half precision accumulates in float32).

Besides Keras's metrics this module has :class:`ZeroOneLoss`, the 0-1 loss (error rate,
1 − accuracy): the quantity one actually cares about in classification, which training
replaces by a differentiable surrogate such as the negative log-likelihood because its
gradient is zero almost everywhere (Goodfellow et al., *Deep Learning*, §8.1.2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from deepdescent import losses as _losses
from deepdescent.losses import match_rank
from deepdescent.utils._checks import check_argument, snake_case
from deepdescent.utils._config import deserialize as _deserialize
from deepdescent.utils._config import serialize as _serialize
from deepdescent.utils._lookup import lookup
from deepdescent.variables import Variable

__all__ = [
    "ACCURACY_KINDS",
    "AUC",
    "AUC_CURVES",
    "AUC_SUMMATIONS",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "Precision",
    "Recall",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "ZeroOneLoss",
    "accuracy",
    "accuracy_kind",
    "binary_accuracy",
    "categorical_accuracy",
    "deserialize",
    "get",
    "mean_absolute_percentage_error",
    "serialize",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
    "zero_one_loss",
]

Shape = tuple[int, ...]
MetricFunction = Callable[..., torch.Tensor]

ACCURACY_KINDS = ("binary", "categorical", "sparse_categorical")
"""The target encodings an accuracy adapts to: 0/1 labels against a probability
(``binary``), one-hot rows (``categorical``) or integer labels (``sparse_categorical``)."""


# --------------------------------------------------------------------------- functions


def _float_dtype(t: torch.Tensor) -> torch.dtype:
    return t.dtype if t.is_floating_point() else torch.get_default_dtype()


def _matches(equal: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A boolean tensor as 1.0/0.0 in ``like``'s floating dtype."""
    return equal.to(_float_dtype(like))


def accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Element-wise 1[y == ŷ] (exact equality)."""
    y_pred = torch.as_tensor(y_pred)
    y_true = torch.as_tensor(y_true, dtype=y_pred.dtype, device=y_pred.device)
    y_true, y_pred = match_rank(y_true, y_pred)
    return _matches(y_true == y_pred, y_pred)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> torch.Tensor:
    """Element-wise 1[y == 1[ŷ > threshold]] for 0/1 labels."""
    y_pred = torch.as_tensor(y_pred)
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    y_true, y_pred = match_rank(y_true, y_pred)
    return _matches(y_true == (y_pred > threshold).to(y_true.dtype), y_pred)


def categorical_accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per-sample 1[argmax y == argmax ŷ] for one-hot ``y_true``."""
    y_pred = torch.as_tensor(y_pred)
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    return _matches(y_true.argmax(dim=-1) == y_pred.argmax(dim=-1), y_pred)


def _class_labels(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """Integer labels shaped like ``y_pred`` without its class axis (a trailing 1 dropped)."""
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true.long()


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per-sample 1[y == argmax ŷ] for integer labels ``y_true``."""
    y_pred = torch.as_tensor(y_pred)
    return _matches(_class_labels(y_true, y_pred) == y_pred.argmax(dim=-1), y_pred)


def _in_top_k(labels: torch.Tensor, y_pred: torch.Tensor, k: int) -> torch.Tensor:
    """1[ŷ_label ≥ k-th largest ŷ]: ties with the k-th score count as hits, as in Keras."""
    k = min(k, y_pred.shape[-1])
    kth = y_pred.topk(k, dim=-1).values[..., -1]
    picked = y_pred.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return _matches(picked >= kth, y_pred)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> torch.Tensor:
    """Per-sample 1[argmax y is among the k highest scores of ŷ], for one-hot ``y_true``."""
    y_pred = torch.as_tensor(y_pred)
    labels = torch.as_tensor(y_true, device=y_pred.device).argmax(dim=-1)
    return _in_top_k(labels, y_pred, k)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> torch.Tensor:
    """Per-sample 1[y is among the k highest scores of ŷ], for integer labels ``y_true``."""
    y_pred = torch.as_tensor(y_pred)
    return _in_top_k(_class_labels(y_true, y_pred), y_pred, k)


def accuracy_kind(
    loss: Any = None,
    y_true_shape: Shape | None = None,
    output_shape: Shape | None = None,
) -> str:
    """Which accuracy ``"accuracy"`` means, as Keras's ``compile`` decides it.

    The loss decides first: binary cross-entropy → ``"binary"``, sparse categorical
    cross-entropy → ``"sparse_categorical"``, categorical cross-entropy → ``"categorical"``.
    Otherwise the shapes do: an output width of 1 → ``"binary"``; targets of lower rank than
    the outputs, or ending in 1 against wider outputs → ``"sparse_categorical"``; else
    ``"categorical"``.
    """
    if loss is not None and not isinstance(loss, _losses.Loss):
        loss = _losses.get(loss)
    if isinstance(loss, _losses.BinaryCrossentropy):
        return "binary"
    if isinstance(loss, _losses.SparseCategoricalCrossentropy):
        return "sparse_categorical"
    if isinstance(loss, _losses.CategoricalCrossentropy):
        return "categorical"
    if output_shape is not None and len(output_shape) > 0:
        if output_shape[-1] == 1:
            return "binary"
        if y_true_shape is not None and (
            len(y_true_shape) < len(output_shape) or y_true_shape[-1] == 1
        ):
            return "sparse_categorical"
    return "categorical"


def _shape_kind(y_true: torch.Tensor, y_pred: torch.Tensor) -> str:
    return accuracy_kind(None, tuple(y_true.shape), tuple(y_pred.shape))


_ACCURACY_OF_KIND: dict[str, MetricFunction] = {
    "binary": binary_accuracy,
    "categorical": categorical_accuracy,
    "sparse_categorical": sparse_categorical_accuracy,
}


def zero_one_loss(
    y_true: Any, y_pred: Any, kind: str = "auto", threshold: float = 0.5
) -> torch.Tensor:
    """The 0-1 loss 1 − accuracy: 1 where the prediction is wrong, 0 where it is right.

    ``kind`` is one of :data:`ACCURACY_KINDS`, or ``"auto"`` to pick it from the shapes as
    :func:`accuracy_kind` does; ``threshold`` applies to the binary kind.
    """
    y_pred = torch.as_tensor(y_pred)
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    if kind == "auto":
        kind = _shape_kind(y_true, y_pred)
    if kind == "binary":
        return 1.0 - binary_accuracy(y_true, y_pred, threshold)
    return 1.0 - _ACCURACY_OF_KIND[kind](y_true, y_pred)


# --------------------------------------------------------------------------- classes


class Metric:
    """Base class: ``update_state`` accumulates, ``result`` reads, ``reset_state`` clears.

    A subclass written as Keras's guides write them keeps its state in
    :meth:`add_variable`s (``self.true_positives.assign_add(...)``); the base's
    :meth:`reset_state` puts each back to its initial value.
    """

    def __init__(self, name: str | None = None, dtype: Any = None):
        self.name = name or snake_case(type(self).__name__)
        self.variables: list[Variable] = []
        self._initial_values: list[torch.Tensor] = []

    def add_variable(
        self,
        shape: Any = (),
        initializer: Any = "zeros",
        dtype: Any = None,
        name: str | None = None,
    ) -> Variable:
        """A state variable of ``shape``, reset to ``initializer``'s value by
        :meth:`reset_state`."""
        from deepdescent import config, initializers

        init = initializers.get(initializer)
        if init is None:
            raise ValueError("add_variable needs an initializer, got None")
        value = init(tuple(int(d) for d in shape), dtype=config.standardize_dtype(dtype))
        variable = Variable(value, name or f"variable_{len(self.variables)}")
        self.variables.append(variable)
        self._initial_values.append(value.detach().clone())
        return variable

    def add_weight(self, *args: Any, **kwargs: Any) -> Variable:
        """Keras's older name of :meth:`add_variable`."""
        return self.add_variable(*args, **kwargs)

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self) -> None:
        if not self.variables:
            raise NotImplementedError(
                f"{type(self).__name__} must implement reset_state (or keep its state in "
                "add_variable)"
            )
        for variable, initial in zip(self.variables, self._initial_values, strict=True):
            variable.assign(initial)

    def reset_states(self) -> None:
        """Keras 2's name of :meth:`reset_state`."""
        self.reset_state()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The accumulated state: every tensor the metric holds (running sums, so the
        states of the processes of a data-parallel run add up to the whole's)."""
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.Tensor)}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Continue from a :meth:`state_dict` (its tensors copied)."""
        for name, value in state.items():
            setattr(self, name, value.detach().clone())

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Update with one batch and return the running result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class _RunningMean(Metric):
    """Shared state of :class:`Mean` and :class:`MeanMetricWrapper`: the running weighted
    mean Σᵢ wᵢ vᵢ / Σᵢ wᵢ, held as two tensors on the values' device.

    Values of rank > 1 are first averaged over their non-batch axes (one value per sample);
    a 0-d value counts as one sample. A weight may be a number (every sample gets it) or a
    tensor broadcastable to the per-sample values. ``result()`` is 0 before any update.
    """

    def __init__(self, name: str | None = None):
        super().__init__(name=name)
        self.total: torch.Tensor | None = None
        self.count: torch.Tensor | None = None

    def _states_for(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (total, count) states, created (or moved) to ``values``' device on demand."""
        if self.total is None or self.count is None:
            dtype = torch.promote_types(_float_dtype(values), torch.float32)
            self.total = torch.zeros((), dtype=dtype, device=values.device)
            self.count = torch.zeros((), dtype=dtype, device=values.device)
        elif self.total.device != values.device:
            self.total = self.total.to(values.device)
            self.count = self.count.to(values.device)
        return self.total, self.count

    def _accumulate(self, values: torch.Tensor, sample_weight: Any) -> None:
        total, count = self._states_for(values)
        # Detached: a metric must not chain every step's graph onto its running sums.
        values = values.detach().to(total.dtype)
        if sample_weight is None or isinstance(sample_weight, int | float):
            if values.ndim > 1:
                values = values.mean(dim=tuple(range(1, values.ndim)))
            scale = 1.0 if sample_weight is None else float(sample_weight)
            total.add_(values.sum(), alpha=scale)
            count.add_(scale * (values.shape[0] if values.ndim else 1))
            return
        weight = torch.as_tensor(sample_weight, dtype=total.dtype, device=total.device).detach()
        values, weight = match_rank(values, weight)
        if values.ndim > weight.ndim:
            values = values.mean(dim=tuple(range(weight.ndim, values.ndim)))
        weight = torch.broadcast_to(weight, torch.broadcast_shapes(weight.shape, values.shape))
        total.add_((values * weight).sum())
        count.add_(weight.sum())

    def result(self) -> torch.Tensor:
        if self.total is None or self.count is None:
            return torch.zeros(())
        return torch.where(self.count != 0, self.total / self.count, torch.zeros_like(self.total))

    def reset_state(self) -> None:
        if self.total is not None and self.count is not None:
            self.total.zero_()
            self.count.zero_()


class Mean(_RunningMean):
    """Running weighted mean of the values passed to ``update_state``.

    The trainer tracks its loss with ``Mean(name="loss").update_state(batch_mean_loss,
    sample_weight=batch_size)``: the epoch's sample-weighted mean loss.
    """

    def __init__(self, name: str = "mean"):
        super().__init__(name=name)

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        """Add ``values`` (per-sample, or a 0-d batch value) with weight ``sample_weight``."""
        self._accumulate(torch.as_tensor(values), sample_weight)


class MeanMetricWrapper(_RunningMean):
    """The running mean of ``fn(y_true, y_pred, **kwargs)``, per-sample values weighted by
    ``sample_weight``. ``fn`` may be the name of one of this module's functions."""

    def __init__(self, fn: MetricFunction | str, name: str | None = None, **kwargs: Any):
        if isinstance(fn, str):
            fn = lookup("metric function", fn, _FUNCTIONS)
        if not callable(fn):
            raise TypeError(f"fn must be a callable (y_true, y_pred) -> Tensor, got {fn!r}")
        fn_name = getattr(fn, "name", None) or getattr(fn, "__name__", None)
        super().__init__(name=name or fn_name or snake_case(type(fn).__name__))
        self.fn = fn
        self.fn_kwargs = kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add the batch's per-sample values ``fn(y_true, y_pred)``, weighted."""
        values = torch.as_tensor(self.fn(y_true, y_pred, **self.fn_kwargs))
        self._accumulate(values, sample_weight)

    def get_config(self) -> dict[str, Any]:
        if type(self) is not MeanMetricWrapper:
            return {**super().get_config(), **self.fn_kwargs}
        fn_name = next((name for name, fn in _FUNCTIONS.items() if fn is self.fn), None)
        if fn_name is None:
            raise ValueError(
                f"metric function {self.fn!r} is not registered and cannot be saved; write "
                "a Metric subclass with get_config, or use a built-in metric"
            )
        return {**super().get_config(), "fn": fn_name, **self.fn_kwargs}


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return k


class Accuracy(MeanMetricWrapper):
    """How often predictions equal the labels exactly (see :func:`accuracy`)."""

    def __init__(self, name: str = "accuracy"):
        super().__init__(accuracy, name=name)


class BinaryAccuracy(MeanMetricWrapper):
    """How often 1[ŷ > threshold] equals the 0/1 label (see :func:`binary_accuracy`)."""

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5):
        super().__init__(binary_accuracy, name=name, threshold=float(threshold))


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax ŷ equals argmax of the one-hot label."""

    def __init__(self, name: str = "categorical_accuracy"):
        super().__init__(categorical_accuracy, name=name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax ŷ equals the integer label."""

    def __init__(self, name: str = "sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name=name)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the ``k`` highest scores."""

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy"):
        super().__init__(top_k_categorical_accuracy, name=name, k=_check_k(k))


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` highest scores."""

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy"):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, k=_check_k(k))


class MeanSquaredError(MeanMetricWrapper):
    """Running mean of the per-sample mean squared error."""

    def __init__(self, name: str = "mean_squared_error"):
        super().__init__(_losses.mean_squared_error, name=name)


class MeanAbsoluteError(MeanMetricWrapper):
    """Running mean of the per-sample mean absolute error."""

    def __init__(self, name: str = "mean_absolute_error"):
        super().__init__(_losses.mean_absolute_error, name=name)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per-sample 100 · mean |y − ŷ| / max(|y|, ε) over the last axis (Keras's; ε = 1e-7)."""
    y_pred = torch.as_tensor(y_pred)
    y_true = torch.as_tensor(y_true, dtype=y_pred.dtype, device=y_pred.device)
    y_true, y_pred = match_rank(y_true, y_pred)
    ratio = (y_true - y_pred).abs() / y_true.abs().clamp(min=_losses.EPSILON)
    return 100.0 * ratio.mean(dim=-1)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Running mean of the per-sample mean absolute percentage error."""

    def __init__(self, name: str = "mean_absolute_percentage_error"):
        super().__init__(mean_absolute_percentage_error, name=name)


class ZeroOneLoss(MeanMetricWrapper):
    """The 0-1 loss (error rate) 1 − accuracy: the classification loss that training
    replaces by a differentiable surrogate (Goodfellow et al., §8.1.2).

    ``kind`` is one of :data:`ACCURACY_KINDS` or ``"auto"`` (decided from each batch's shapes
    like Keras's ``"accuracy"``); ``threshold`` applies to binary targets.
    """

    def __init__(self, name: str = "zero_one_loss", kind: str = "auto", threshold: float = 0.5):
        if kind not in ("auto", *ACCURACY_KINDS):
            raise ValueError(f"kind must be 'auto' or one of {ACCURACY_KINDS}, got {kind!r}")
        super().__init__(zero_one_loss, name=name, kind=kind, threshold=float(threshold))


# --------------------------------------------------------------- confusion counts


class _ConfusionCounts(Metric):
    """Weighted true/false positives/negatives at each of ``thresholds``, as Keras counts
    them: every entry of ``y_pred`` is one decision, positive when ``y_pred > t``; the
    target is positive when nonzero; ``sample_weight`` is broadcast to ``y_pred``'s shape.
    The counts are float64 tensors on the inputs' device."""

    def __init__(self, thresholds: list[float], name: str | None = None):
        super().__init__(name=name)
        self.thresholds = torch.tensor(thresholds, dtype=torch.float64)
        self.true_positives = torch.zeros(len(thresholds), dtype=torch.float64)
        self.false_positives = torch.zeros_like(self.true_positives)
        self.true_negatives = torch.zeros_like(self.true_positives)
        self.false_negatives = torch.zeros_like(self.true_positives)

    def _scores(self, y_pred: torch.Tensor) -> torch.Tensor:
        return y_pred

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch's counts."""
        scores = self._scores(torch.as_tensor(y_pred).detach().to(torch.float64))
        target = torch.as_tensor(y_true, device=scores.device).detach()
        target, scores = match_rank(target, scores)
        positive = torch.broadcast_to((target != 0).to(torch.float64), scores.shape)
        weight = torch.ones_like(scores)
        if sample_weight is not None:
            given = torch.as_tensor(sample_weight, device=scores.device).to(torch.float64)
            given, _ = match_rank(given.detach(), scores)
            while given.ndim < scores.ndim:
                given = given.unsqueeze(-1)
            weight = torch.broadcast_to(given, scores.shape)
        thresholds = self.thresholds.to(scores.device)
        above = (scores.reshape(1, -1) > thresholds.reshape(-1, 1)).to(torch.float64)
        hits = (positive * weight).reshape(1, -1)
        misses = ((1 - positive) * weight).reshape(1, -1)
        for name, counts in (
            ("true_positives", (above * hits).sum(dim=1)),
            ("false_positives", (above * misses).sum(dim=1)),
            ("false_negatives", ((1 - above) * hits).sum(dim=1)),
            ("true_negatives", ((1 - above) * misses).sum(dim=1)),
        ):
            setattr(self, name, getattr(self, name).to(scores.device) + counts)

    def reset_state(self) -> None:
        for name in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            setattr(self, name, torch.zeros_like(getattr(self, name)))


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 where the denominator is 0 (Keras's ``divide_no_nan``)."""
    safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    return torch.where(denominator == 0, torch.zeros_like(numerator), numerator / safe)


def _check_thresholds(thresholds: Any) -> list[float]:
    values = (
        [0.5]
        if thresholds is None
        else ([thresholds] if isinstance(thresholds, int | float) else list(thresholds))
    )
    if not values or not all(isinstance(t, int | float) and 0 <= t <= 1 for t in values):
        raise ValueError(
            f"thresholds must be numbers in [0, 1] (or None for 0.5), got {thresholds!r}"
        )
    return [float(t) for t in values]


class _ThresholdRatio(_ConfusionCounts):
    """Precision or recall at ``thresholds`` (0.5 when ``None``): a 0-d result for one
    threshold, one value per threshold for a list, as Keras's."""

    def __init__(self, thresholds: Any = None, name: str | None = None):
        self._given_thresholds = thresholds
        super().__init__(_check_thresholds(thresholds), name=name)

    def _ratio_of_counts(self) -> torch.Tensor:
        raise NotImplementedError

    def result(self) -> torch.Tensor:
        values = self._ratio_of_counts()
        single = self._given_thresholds is None or isinstance(self._given_thresholds, int | float)
        return values[0] if single else values

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self._given_thresholds}


class Precision(_ThresholdRatio):
    """Precision TP / (TP + FP): the fraction of predicted positives that are positive."""

    def _ratio_of_counts(self) -> torch.Tensor:
        return _ratio(self.true_positives, self.true_positives + self.false_positives)


class Recall(_ThresholdRatio):
    """Recall TP / (TP + FN): the fraction of positives predicted positive."""

    def _ratio_of_counts(self) -> torch.Tensor:
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)


AUC_CURVES = ("ROC", "PR", "PRGAIN")
AUC_SUMMATIONS = ("interpolation", "minoring", "majoring")


class AUC(_ConfusionCounts):
    """Area under the ROC, precision–recall or precision–recall-gain curve, approximated as
    Keras does from the counts at ``num_thresholds`` evenly spaced thresholds (the ends
    just outside [0, 1]) or at the given ``thresholds`` (to which those two ends are
    added). Between successive thresholds the curve's height is

    - ``"interpolation"``: the mean of the two ends (the trapezoidal rule); for ``"PR"``
      instead Davis & Goadrich's (2006, §4) interpolation: true and predicted positives
      vary linearly between the thresholds, so precision is TP/P on that line and its
      integral has the closed form slope·(ΔTP + intercept·log(P_A/P_B))/(TP+FN);
    - ``"minoring"`` / ``"majoring"``: the lower / higher end (a lower / upper Riemann sum).

    ``"PRGAIN"`` is Flach & Kull's (2015) precision–recall gain with Keras's fixes: gains
    read 0 (recall) and 1 (precision) without true positives, and negative recall gains
    read 0. ``from_logits`` passes the predictions through a sigmoid first.
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        thresholds: list[float] | None = None,
        from_logits: bool = False,
    ):
        check_argument("curve", curve, curve in AUC_CURVES, f"one of {AUC_CURVES}")
        check_argument(
            "summation_method",
            summation_method,
            summation_method in AUC_SUMMATIONS,
            f"one of {AUC_SUMMATIONS}",
        )
        if thresholds is None:
            if not isinstance(num_thresholds, int) or num_thresholds < 2:
                raise ValueError(f"num_thresholds must be an int > 1, got {num_thresholds!r}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        else:
            inner = sorted(_check_thresholds(thresholds))
            num_thresholds = len(inner) + 2
        super().__init__([-_losses.EPSILON, *inner, 1.0 + _losses.EPSILON], name=name)
        self.num_thresholds = num_thresholds
        self.curve = curve
        self.summation_method = summation_method
        self._given_thresholds = None if thresholds is None else list(thresholds)
        self.from_logits = from_logits

    def _scores(self, y_pred: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(y_pred) if self.from_logits else y_pred

    def _curve(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The curve's points (x, y), one per threshold, x decreasing."""
        tp, fp = self.true_positives, self.false_positives
        fn, tn = self.false_negatives, self.true_negatives
        recall = _ratio(tp, tp + fn)
        if self.curve == "ROC":
            return _ratio(fp, fp + tn), recall
        if self.curve == "PR":
            return recall, _ratio(tp, tp + fp)
        scale = _ratio(tp + fn, tn + fp)
        recall_gain = torch.where(tp == 0, 0.0, 1.0 - scale * _ratio(fn, tp)).clamp(min=0.0)
        precision_gain = torch.where(tp == 0, 1.0, 1.0 - scale * _ratio(fp, tp))
        return recall_gain, precision_gain

    def _interpolated_pr(self) -> torch.Tensor:
        tp = self.true_positives
        predicted = tp + self.false_positives
        gained_tp = tp[:-1] - tp[1:]
        slope = _ratio(gained_tp, (predicted[:-1] - predicted[1:]).clamp(min=0))
        intercept = tp[1:] - slope * predicted[1:]
        both_positive = (predicted[:-1] > 0) & (predicted[1:] > 0)
        ratio = torch.where(
            both_positive,
            _ratio(predicted[:-1], predicted[1:].clamp(min=0)),
            torch.ones_like(predicted[1:]),
        )
        areas = _ratio(
            slope * (gained_tp + intercept * torch.log(ratio)),
            (tp[1:] + self.false_negatives[1:]).clamp(min=0),
        )
        return areas.sum()

    def result(self) -> torch.Tensor:
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr()
        x, y = self._curve()
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[:-1], y[1:])
        else:
            heights = torch.maximum(y[:-1], y[1:])
        return ((x[:-1] - x[1:]) * heights).sum()

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "thresholds": self._given_thresholds,
            "from_logits": self.from_logits,
        }


# --------------------------------------------------------------------------- look-up

_FUNCTIONS: dict[str, MetricFunction] = {
    "accuracy": accuracy,
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mean_squared_error": _losses.mean_squared_error,
    "mean_absolute_error": _losses.mean_absolute_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "zero_one_loss": zero_one_loss,
}

_CLASSES: dict[str, type[Metric]] = {
    cls.__name__: cls
    for cls in (
        AUC,
        Accuracy,
        BinaryAccuracy,
        CategoricalAccuracy,
        Mean,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanMetricWrapper,
        MeanSquaredError,
        Precision,
        Recall,
        SparseCategoricalAccuracy,
        SparseTopKCategoricalAccuracy,
        TopKCategoricalAccuracy,
        ZeroOneLoss,
    )
}

_ACCURACY_CLASS_OF_KIND: dict[str, Callable[..., Metric]] = {
    "binary": BinaryAccuracy,
    "categorical": CategoricalAccuracy,
    "sparse_categorical": SparseCategoricalAccuracy,
}

# Names whose meaning depends on the loss and shapes; the rest map to one class each.
_ADAPTIVE = {"accuracy": "accuracy", "acc": "accuracy"}
_ADAPTIVE.update(dict.fromkeys(("zero_one_loss", "zero_one", "error_rate"), "zero_one_loss"))

_BY_NAME: dict[str, Callable[..., Metric] | str] = {
    **_ADAPTIVE,
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean": Mean,
    "precision": Precision,
    "recall": Recall,
    "auc": AUC,
}


def get(
    identifier: str | Mapping[str, Any] | Metric | MetricFunction,
    loss: Any = None,
    *,
    y_true_shape: Shape | None = None,
    output_shape: Shape | None = None,
) -> Metric:
    """Resolve a metric identifier to a :class:`Metric`.

    A name builds that metric and keeps the name as given, so History keys read
    ``"accuracy"``/``"val_accuracy"``, ``"mse"``, ... ``"accuracy"``/``"acc"`` resolve like
    Keras's ``compile`` (:func:`accuracy_kind` on ``loss`` and the optional shapes) to
    binary, sparse categorical or categorical accuracy; ``"zero_one_loss"``/``"error_rate"``
    to the matching :class:`ZeroOneLoss` (``kind="auto"`` when neither loss nor shapes are
    given). A config dict → :func:`deserialize`; a ``Metric``
    → itself; a callable ``fn(y_true, y_pred)`` → :class:`MeanMetricWrapper`.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        found = lookup("metric", identifier, _BY_NAME)
        if not isinstance(found, str):
            return found(name=identifier)
        kind = accuracy_kind(loss, y_true_shape, output_shape)
        if found == "accuracy":
            return _ACCURACY_CLASS_OF_KIND[kind](name=identifier)
        undecided = loss is None and output_shape is None
        return ZeroOneLoss(name=identifier, kind="auto" if undecided else kind)
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(
        "metric must be a name such as 'accuracy', a config dict, a Metric or a callable "
        f"(y_true, y_pred) -> Tensor; got {type(identifier).__name__}: {identifier!r}"
    )


def serialize(metric: Metric) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` of a metric (JSON-safe)."""
    return _serialize(metric)


def deserialize(config: Mapping[str, Any]) -> Metric:
    """Rebuild a metric from :func:`serialize`'s output; only this module's classes are built."""
    return _deserialize("metric", config, _CLASSES)
