"""Cost functions: the per-example loss L(f(x; θ), y) whose average is the cost J(θ).

Semantics and defaults are Keras 3's (torch backend). A :class:`Loss` turns
``(y_true, y_pred)`` into per-sample values with ``call`` (each function below reduces the
last axis: a sum for cross-entropies and KL, a mean for the others) and ``__call__`` reduces
those with optional sample weights:

* ``"sum_over_batch_size"`` (default, alias ``"mean"``): Σᵢ wᵢ Lᵢ / (number of values);
* ``"mean_with_sample_weight"``: Σᵢ wᵢ Lᵢ / Σᵢ wᵢ;
* ``"sum"``: Σᵢ wᵢ Lᵢ;  ``"none"`` (or ``None``): the weighted values themselves.

Probability losses with ``from_logits=False`` follow Keras exactly: categorical outputs are
renormalised along the class axis, clipped to [ε, 1 − ε] with ε = 1e-7, then logged; so a
saturated softmax gives a clipped, finite loss (at most −log ε ≈ 16.1) and gradients that
vanish. With ``from_logits=True`` the log-probabilities come from ``log_softmax`` /
``logsigmoid`` and stay exact. :meth:`Loss.with_logits` and :attr:`Loss.output_activation`
let the trainer use the exact form on a softmax/sigmoid model's pre-activations, as Keras
does.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F

from deepdescent.utils._checks import snake_case
from deepdescent.utils._config import deserialize as _deserialize
from deepdescent.utils._config import serialize as _serialize
from deepdescent.utils._lookup import lookup

# How far from 1 a row of categorical targets may sum (float32 rounding of probabilities).
_SUM_TOLERANCE = 1e-3

__all__ = [
    "EPSILON",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CosineSimilarity",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "LossFunctionWrapper",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "binary_crossentropy",
    "categorical_crossentropy",
    "cosine_similarity",
    "deserialize",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "match_rank",
    "mean_absolute_error",
    "mean_squared_error",
    "poisson",
    "serialize",
    "sparse_categorical_crossentropy",
    "squared_hinge",
]

EPSILON = 1e-7
"""Keras's ``backend.epsilon()``: the clipping margin of probability losses."""

Shape = tuple[int, ...]
LossFunction = Callable[..., torch.Tensor]

_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum", "none")


# --------------------------------------------------------------------------- helpers


def _as_float(y_pred: Any) -> torch.Tensor:
    """``y_pred`` as a floating tensor (integers become the default float dtype)."""
    y_pred = torch.as_tensor(y_pred)
    return y_pred if y_pred.is_floating_point() else y_pred.to(torch.get_default_dtype())


def _cast_like(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(y_true, dtype=y_pred.dtype, device=y_pred.device)


def match_rank(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keras's squeeze-or-expand: when ranks differ by one and the longer tensor ends in a
    1-sized axis, drop that axis (or, for a rank-1 partner, add it to the partner)."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        return (a, b.unsqueeze(-1)) if b.ndim == 1 else (a.squeeze(-1), b)
    if b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        return (a.unsqueeze(-1), b) if a.ndim == 1 else (a, b.squeeze(-1))
    return a, b


def _log_probs(y_pred: torch.Tensor, from_logits: bool) -> torch.Tensor:
    """log p along the last axis: log_softmax of logits, or Keras's renormalise-clip-log."""
    if from_logits:
        return torch.log_softmax(y_pred, dim=-1)
    probs = y_pred / y_pred.sum(dim=-1, keepdim=True)
    return probs.clamp(EPSILON, 1.0 - EPSILON).log()


def _fmt(shape: Shape) -> str:
    return str(tuple(int(d) for d in shape))


def _single_unit_error(name: str, output_shape: Shape) -> ValueError:
    return ValueError(
        f"{name} over a single output unit (outputs of shape {_fmt(output_shape)}) is "
        "constant and cannot train: use loss='binary_crossentropy' with a sigmoid output, "
        "or give the last layer one unit per class"
    )


def _check_rank(name: str, output_shape: Shape) -> None:
    if len(output_shape) < 2:
        raise ValueError(
            f"{name} needs outputs of shape (n, ..., classes), got outputs of shape "
            f"{_fmt(output_shape)}"
        )


def _check_one_hot(name: str, y_true_shape: Shape, output_shape: Shape) -> None:
    """One-hot targets must have the outputs' shape (the leading batch axis is not compared)."""
    y, out = tuple(y_true_shape), tuple(output_shape)
    _check_rank(name, out)
    classes = out[-1]
    if classes == 1:
        raise _single_unit_error(name, out)
    if y[1:] == out[1:]:
        return
    expected = _fmt(y[:1] + out[1:])
    if y[1:] in (out[1:-1], (*out[1:-1], 1)):
        raise ValueError(
            f"{name} expects one-hot targets of shape {expected} but got {_fmt(y)}: use "
            "loss='sparse_categorical_crossentropy' for integer labels, or "
            f"deepdescent.utils.to_categorical(y, {classes})"
        )
    raise ValueError(
        f"{name} expects one-hot targets of shape {expected}, one column per output unit, "
        f"but got {_fmt(y)}"
    )


def _check_class_indices(name: str, y_true_shape: Shape, output_shape: Shape) -> None:
    """Integer labels must have the outputs' shape without the class axis (or with it as 1)."""
    y, out = tuple(y_true_shape), tuple(output_shape)
    _check_rank(name, out)
    expected = _fmt(y[:1] + out[1:-1])
    if y[1:] in (out[1:-1], (*out[1:-1], 1)):
        if out[-1] == 1:
            raise _single_unit_error(name, out)
        return
    if y[1:] == out[1:]:
        raise ValueError(
            f"{name} expects integer class labels of shape {expected} but got one-hot targets "
            f"of shape {_fmt(y)}: use loss='categorical_crossentropy' for one-hot targets, "
            "or y.argmax(axis=-1)"
        )
    raise ValueError(
        f"{name} expects integer class labels of shape {expected} (the outputs' shape "
        f"{_fmt(out)} without its class axis) but got {_fmt(y)}"
    )


def _check_same_shape(name: str, y_true_shape: Shape, output_shape: Shape) -> None:
    """Element-wise losses need targets shaped like the outputs (up to a trailing 1)."""
    yt, ot = tuple(y_true_shape)[1:], tuple(output_shape)[1:]
    if yt == ot or (*yt, 1) == ot or yt == (*ot, 1):
        return
    hint = ""
    if ot and ot[-1] > 1 and yt in (ot[:-1], (*ot[:-1], 1)):
        hint = (
            "; the targets look like class indices: use "
            "loss='sparse_categorical_crossentropy', or "
            f"deepdescent.utils.to_categorical(y, {ot[-1]})"
        )
    expected = _fmt(tuple(y_true_shape)[:1] + ot)
    raise ValueError(
        f"{name} expects targets of the outputs' shape {expected} but got "
        f"{_fmt(y_true_shape)}: they would broadcast instead of matching element by "
        f"element{hint}"
    )


def _check_reduction(reduction: str | None) -> str:
    reduction = "none" if reduction is None else reduction
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS} or None, got {reduction!r}")
    return reduction


def _check_bool(argument: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{argument} must be True or False, got {value!r}")
    return value


def _check_unit_interval(argument: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{argument} must be a number in [0, 1], got {value!r}")
    return float(value)


def _reduce(
    values: torch.Tensor,
    sample_weight: Any,
    mask: torch.Tensor | None,
    reduction: str,
) -> torch.Tensor:
    """Weight the per-sample ``values`` and reduce them as ``reduction`` says.

    A ``mask`` (entries to ignore) enters as a weight; under the mean reductions the valid
    entries are re-weighted by total/valid so that the mean runs over valid entries only.
    """
    weight = None
    if sample_weight is not None:
        weight = torch.as_tensor(sample_weight, dtype=values.dtype, device=values.device)
    if mask is not None:
        mask = mask.to(values.dtype)
        if reduction in ("sum_over_batch_size", "mean"):
            valid = mask.sum()
            mask = mask * torch.where(valid > 0, mask.numel() / valid, torch.zeros_like(valid))
        weight = mask if weight is None else torch.mul(*match_rank(weight, mask))
    if weight is not None:
        values, weight = match_rank(values, weight)
        values = values * weight
    if reduction == "none" or values.ndim == 0:
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weight is not None:
        divisor = weight.expand_as(values).sum()
        return torch.where(divisor != 0, total / divisor, torch.zeros_like(total))
    return total / values.numel() if values.numel() else total


# --------------------------------------------------------------------------- functions


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Per-sample −Σ_k y_k log p_k over the last (class) axis, for one-hot ``y_true``.

    ``p = softmax(y_pred)`` when ``from_logits``, else ``clip(y_pred / Σ y_pred, ε, 1 − ε)``.
    Label smoothing s replaces y by y(1 − s) + s/K for K classes.
    """
    y_pred = _as_float(y_pred)
    y_true = _cast_like(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        _check_one_hot("categorical_crossentropy", y_true.shape, y_pred.shape)
        raise ValueError(
            "categorical_crossentropy needs y_true and y_pred of the same shape, got "
            f"{_fmt(y_true.shape)} and {_fmt(y_pred.shape)}"
        )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[-1]
    return -(y_true * _log_probs(y_pred, from_logits)).sum(dim=-1)


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
) -> torch.Tensor:
    """Per-sample −log p_y for integer labels y (shape of ``y_pred`` without the class axis,
    or with it as 1); p as in :func:`categorical_crossentropy`. Entries labelled
    ``ignore_class`` give 0 (and :class:`SparseCategoricalCrossentropy` leaves them out of
    the mean)."""
    y_pred = _as_float(y_pred)
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    if y_true.shape != y_pred.shape[:-1]:
        _check_class_indices("sparse_categorical_crossentropy", y_true.shape, y_pred.shape)
        raise ValueError(
            "sparse_categorical_crossentropy needs y_true of shape y_pred.shape[:-1], got "
            f"{_fmt(y_true.shape)} and {_fmt(y_pred.shape)}"
        )
    labels = y_true.long()
    log_probs = _log_probs(y_pred, from_logits)
    if ignore_class is None:
        return -log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    valid = labels != ignore_class
    safe_labels = torch.where(valid, labels, torch.zeros_like(labels))
    picked = log_probs.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)
    return torch.where(valid, -picked, torch.zeros_like(picked))


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Mean over the last axis of −[y log p + (1 − y) log(1 − p)].

    ``p = sigmoid(y_pred)`` (via ``binary_cross_entropy_with_logits``) when ``from_logits``,
    else ``clip(y_pred, ε, 1 − ε)``. Label smoothing s replaces y by y(1 − s) + s/2.
    """
    y_pred = _as_float(y_pred)
    y_true, y_pred = match_rank(_cast_like(y_true, y_pred), y_pred)
    if y_true.shape != y_pred.shape:
        _check_same_shape("binary_crossentropy", y_true.shape, y_pred.shape)
        raise ValueError(
            "binary_crossentropy needs y_true and y_pred of the same shape, got "
            f"{_fmt(y_true.shape)} and {_fmt(y_pred.shape)}"
        )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        # Written out rather than F.binary_cross_entropy, which autocast refuses to run.
        p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
        values = -(y_true * p.log() + (1.0 - y_true) * (-p).log1p())
    return values.mean(dim=-1)


def mean_squared_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per-sample mean over the last axis of (y − ŷ)²."""
    y_pred = _as_float(y_pred)
    y_true, y_pred = match_rank(_cast_like(y_true, y_pred), y_pred)
    return (y_true - y_pred).square().mean(dim=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per-sample mean over the last axis of |y − ŷ|."""
    y_pred = _as_float(y_pred)
    y_true, y_pred = match_rank(_cast_like(y_true, y_pred), y_pred)
    return (y_true - y_pred).abs().mean(dim=-1)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> torch.Tensor:
    """Per-sample mean of ½e² where |e| ≤ δ and δ|e| − ½δ² elsewhere, e = ŷ − y."""
    y_pred = _as_float(y_pred)
    y_true, y_pred = match_rank(_cast_like(y_true, y_pred), y_pred)
    error = y_pred - y_true
    abs_error = error.abs()
    quadratic = 0.5 * error.square()
    linear = delta * abs_error - 0.5 * delta * delta
    return torch.where(abs_error <= delta, quadratic, linear).mean(dim=-1)


def _to_signed_labels(y_true: torch.Tensor) -> torch.Tensor:
    """Keras's hinge convention: labels all in {0, 1} become {−1, +1}; others pass as given.
    Decided on the device (``torch.where``), without reading the labels back to the host."""
    is_binary = ((y_true == 0) | (y_true == 1)).all()
    return torch.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per-sample mean of max(1 − y·ŷ, 0), y ∈ {−1, +1} (0/1 labels are converted)."""
    y_pred = _as_float(y_pred)
    y_true, y_pred = match_rank(_cast_like(y_true, y_pred), y_pred)
    return F.relu(1.0 - _to_signed_labels(y_true) * y_pred).mean(dim=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per-sample mean of max(1 − y·ŷ, 0)², y ∈ {−1, +1} (0/1 labels are converted)."""
    y_pred = _as_float(y_pred)
    y_true, y_pred = match_rank(_cast_like(y_true, y_pred), y_pred)
    return F.relu(1.0 - _to_signed_labels(y_true) * y_pred).square().mean(dim=-1)


def kl_divergence(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per-sample Σ_k y_k log(y_k / ŷ_k) over the last axis, both clipped to [ε, 1]."""
    y_pred = _as_float(y_pred)
    y_true, y_pred = match_rank(_cast_like(y_true, y_pred), y_pred)
    y_true = y_true.clamp(EPSILON, 1.0)
    y_pred = y_pred.clamp(EPSILON, 1.0)
    return (y_true * (y_true / y_pred).log()).sum(dim=-1)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> torch.Tensor:
    """Per-sample −Σ_k ŷ_k y_k / (‖ŷ‖ ‖y‖) over ``axis``: the negated cosine of the angle
    between target and prediction (−1 when they point the same way), each norm floored at
    √1e-12 as Keras's ``l2_normalize`` does so that a zero vector gives 0."""
    y_pred = _as_float(y_pred)
    y_true, y_pred = match_rank(_cast_like(y_true, y_pred), y_pred)

    def unit(x: torch.Tensor) -> torch.Tensor:
        return x * x.square().sum(dim=axis, keepdim=True).clamp_min(1e-12).rsqrt()

    return -(unit(y_true) * unit(y_pred)).sum(dim=axis)


def poisson(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per-sample mean of ŷ − y log(ŷ + ε): the Poisson negative log-likelihood up to a
    term free of ŷ, for a predicted rate ŷ > 0."""
    y_pred = _as_float(y_pred)
    y_true, y_pred = match_rank(_cast_like(y_true, y_pred), y_pred)
    return (y_pred - y_true * (y_pred + EPSILON).log()).mean(dim=-1)


def log_cosh(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per-sample mean of log cosh(ŷ − y), computed as x + softplus(−2x) − log 2 so that large
    errors do not overflow: ≈ x²/2 for small x and |x| − log 2 for large x."""
    y_pred = _as_float(y_pred)
    y_true, y_pred = match_rank(_cast_like(y_true, y_pred), y_pred)
    error = y_pred - y_true
    return (error + F.softplus(-2.0 * error) - math.log(2.0)).mean(dim=-1)


# --------------------------------------------------------------------------- classes


# Targets drawn from p(y | z) for the losses that are its negative log-likelihood, with the
# factor that makes the sampled loss's gradient covariance the loss's Hessian in z.
TargetSampler = Callable[[torch.Tensor], tuple[torch.Tensor, float]]


def _categories(outputs: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Class indices drawn from softmax(z) along the last axis."""
    z = outputs.detach()
    width = z.shape[-1]
    rows = torch.softmax(z.reshape(-1, width), dim=-1)
    return torch.multinomial(rows, 1).reshape(z.shape[:-1]), 1.0


def _one_hot_categories(outputs: torch.Tensor) -> tuple[torch.Tensor, float]:
    labels, scale = _categories(outputs)
    return F.one_hot(labels, outputs.shape[-1]).to(outputs), scale


def _bernoulli_draws(outputs: torch.Tensor) -> tuple[torch.Tensor, float]:
    return torch.bernoulli(torch.sigmoid(outputs.detach())), outputs.shape[-1] ** 0.5


def _gaussian_draws(outputs: torch.Tensor) -> tuple[torch.Tensor, float]:
    z = outputs.detach()
    return z + torch.randn_like(z) * (outputs.shape[-1] / 2) ** 0.5, 1.0


class Loss:
    """Base class: per-sample values from :meth:`call`, reduced by :meth:`__call__`.

    Class attributes used by the trainer:

    * ``output_activation``: the activation whose output this loss can consume as logits
      (``"softmax"``, ``"sigmoid"``) or ``None``. When a model ends in that activation the
      trainer evaluates :meth:`with_logits` on the pre-activation instead, which is exact
      where the clipped probability form saturates.
    * ``target_dtype``: the dtype the targets are converted to once, before training.

    The trainer's hand-written back-propagation takes the gradient in ``y_pred`` from
    :mod:`deepdescent.training.backprop`, in closed form where it has one.
    """

    output_activation: ClassVar[str | None] = None
    target_dtype: ClassVar[torch.dtype] = torch.float32
    #: Whether ``y_pred`` holds logits (the cross-entropies set it per instance).
    from_logits: bool = False

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size"):
        self.name = name or snake_case(type(self).__name__)
        self.reduction = _check_reduction(reduction)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        """The reduced loss (a 0-d tensor unless ``reduction="none"``)."""
        y_pred = _as_float(y_pred)
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        values = self.call(y_true, y_pred)
        return _reduce(values, sample_weight, self._valid_mask(y_true, y_pred), self.reduction)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """Per-sample loss values; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def folds(self, activation: str | None) -> bool:
        """Whether a model whose outputs go through ``activation`` last may hand this loss
        the outputs before it instead (softmax before categorical cross-entropy, sigmoid
        before binary cross-entropy): the trainer then evaluates :meth:`with_logits`."""
        return (
            activation is not None
            and activation == self.output_activation
            and not (self.from_logits)
        )

    def target_sampler(self) -> TargetSampler | None:
        """A function of outputs z that draws targets from the distribution p(y | z) of
        which this loss is the negative log-likelihood, and returns them with the factor s
        that makes the gradient g in z of ``s · loss(targets, z)`` have E[g gᵀ] = ∇²_z loss
        — the sampled Fisher of K-FAC (Martens & Grosse 2015, §5). ``None`` for a loss that
        is no such likelihood (the base class)."""
        return None

    def _valid_mask(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor | None:
        """Entries to keep in the reduction (``None``: all of them)."""
        return None

    def with_logits(self) -> Loss:
        """A copy of this loss that takes pre-activation logits (``from_logits=True``)."""
        if self.output_activation is None:
            raise ValueError(
                f"{self.name} has no logits form: only losses that consume a softmax or "
                "sigmoid output (categorical, sparse categorical and binary cross-entropy) do"
            )
        return type(self).from_config({**self.get_config(), "from_logits": True})

    def validate_targets(self, y_true_shape: Shape, output_shape: Shape) -> None:
        """Check, once per dataset, that targets of ``y_true_shape`` fit outputs of
        ``output_shape``; raise ``ValueError`` saying how to fix them. The leading (batch)
        axis is not compared. The base class accepts any shapes."""

    def validate_target_values(
        self, y_true: torch.Tensor, output_shape: Shape, argument: str = "y"
    ) -> None:
        """Check, once per dataset and before any training, that the target *values* fit
        this loss (class labels in range, probabilities that sum to 1), naming
        ``argument`` in the error or warning. The base class accepts any values."""

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


class LossFunctionWrapper(Loss):
    """A :class:`Loss` around any function ``fn(y_true, y_pred, **kwargs)`` returning
    per-sample values; ``y_true`` is cast to ``y_pred``'s dtype and ranks are matched first,
    as Keras does. ``fn`` may be a registered function's name (so configs can be reloaded)."""

    def __init__(
        self,
        fn: LossFunction | str,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        **kwargs: Any,
    ):
        if isinstance(fn, str):
            fn = lookup("loss function", fn, _FUNCTIONS)
        if not callable(fn):
            raise TypeError(f"fn must be a callable (y_true, y_pred) -> Tensor, got {fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        y_true, y_pred = match_rank(_cast_like(y_true, y_pred), y_pred)
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        fn_name = next((name for name, fn in _FUNCTIONS.items() if fn is self.fn), None)
        if fn_name is None:
            raise ValueError(
                f"loss function {self.fn!r} is not registered and cannot be saved; write a "
                "Loss subclass with get_config, or use a built-in loss"
            )
        return {**super().get_config(), "fn": fn_name, **self.fn_kwargs}


class _ElementwiseLoss(Loss):
    """A built-in loss whose targets have the outputs' shape; ``_fn`` gives its values."""

    _fn: ClassVar[Callable[..., torch.Tensor]]

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return type(self)._fn(y_true, y_pred)

    def validate_targets(self, y_true_shape: Shape, output_shape: Shape) -> None:
        _check_same_shape(self.name, y_true_shape, output_shape)


class CategoricalCrossentropy(Loss):
    """Cross-entropy −Σ_k y_k log p_k between one-hot targets and predicted probabilities
    (see :func:`categorical_crossentropy`)."""

    output_activation = "softmax"

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
    ):
        super().__init__(name=name, reduction=reduction)
        self.from_logits = _check_bool("from_logits", from_logits)
        self.label_smoothing = _check_unit_interval("label_smoothing", label_smoothing)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def target_sampler(self) -> TargetSampler | None:
        """One-hot categories drawn from softmax(z), with s = 1 (the loss sums over the
        classes), when the loss takes logits."""
        return _one_hot_categories if self.from_logits else None

    def validate_targets(self, y_true_shape: Shape, output_shape: Shape) -> None:
        _check_one_hot(self.name, y_true_shape, output_shape)

    def validate_target_values(
        self, y_true: torch.Tensor, output_shape: Shape, argument: str = "y"
    ) -> None:
        """Warn when a target row does not sum to 1: the cross-entropy of a distribution
        is only defined against a distribution (one-hot rows or probabilities)."""
        if not y_true.is_floating_point() or y_true.numel() == 0:
            return
        error = (y_true.sum(dim=-1) - 1.0).abs()
        worst = float(error.max())
        if worst > _SUM_TOLERANCE:
            index = tuple(int(i) for i in (error == error.max()).nonzero()[0])
            warnings.warn(
                f"{argument} row {index} sums to {float(y_true[index].sum()):.6g}, "
                f"not 1: {self.name} expects one-hot rows or probabilities; normalize the "
                "rows, or use binary_crossentropy for independent labels",
                stacklevel=4,
            )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(from_logits=self.from_logits, label_smoothing=self.label_smoothing)
        return config


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy −log p_y for integer class labels (see
    :func:`sparse_categorical_crossentropy`); entries labelled ``ignore_class`` are left out
    of the mean."""

    output_activation = "softmax"
    target_dtype = torch.long

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
    ):
        super().__init__(name=name, reduction=reduction)
        self.from_logits = _check_bool("from_logits", from_logits)
        if ignore_class is not None and (
            isinstance(ignore_class, bool) or not isinstance(ignore_class, int)
        ):
            raise TypeError(f"ignore_class must be an int or None, got {ignore_class!r}")
        self.ignore_class = ignore_class

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits, self.ignore_class)

    def target_sampler(self) -> TargetSampler | None:
        """Class labels drawn from softmax(z), with s = 1, when the loss takes logits and
        no class is ignored."""
        return _categories if self.from_logits and self.ignore_class is None else None

    def _valid_mask(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor | None:
        if self.ignore_class is None:
            return None
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true.squeeze(-1)
        return y_true != self.ignore_class

    def validate_targets(self, y_true_shape: Shape, output_shape: Shape) -> None:
        _check_class_indices(self.name, y_true_shape, output_shape)

    def validate_target_values(
        self, y_true: torch.Tensor, output_shape: Shape, argument: str = "y"
    ) -> None:
        """Every label must be a class index 0 … C − 1 for C outputs (or ``ignore_class``)."""
        classes = int(output_shape[-1])
        labels = y_true.reshape(-1)
        valid = (labels >= 0) & (labels < classes)
        if self.ignore_class is not None:
            valid |= labels == self.ignore_class
        if bool(valid.all()):
            return
        flat = int((~valid).nonzero()[0])
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), y_true.shape))
        ignored = "" if self.ignore_class is None else f" (or {self.ignore_class}, ignored)"
        raise ValueError(
            f"{argument} holds the label {labels[flat].item()} at index {index}, out of range: "
            f"{self.name} with {classes} outputs takes labels 0 to {classes - 1}{ignored}. "
            "Fix the labels, or give the model's last layer one unit per class"
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(from_logits=self.from_logits, ignore_class=self.ignore_class)
        return config


class BinaryCrossentropy(_ElementwiseLoss):
    """Binary cross-entropy averaged over the last axis (see :func:`binary_crossentropy`)."""

    output_activation = "sigmoid"

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
    ):
        super().__init__(name=name, reduction=reduction)
        self.from_logits = _check_bool("from_logits", from_logits)
        self.label_smoothing = _check_unit_interval("label_smoothing", label_smoothing)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def target_sampler(self) -> TargetSampler | None:
        """Bernoulli(sigmoid(z)) draws, with s = √k: the loss averages over the k outputs,
        a k-th of the log-likelihood. Only when the loss takes logits."""
        return _bernoulli_draws if self.from_logits else None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(from_logits=self.from_logits, label_smoothing=self.label_smoothing)
        return config


class MeanSquaredError(_ElementwiseLoss):
    """Mean squared error (see :func:`mean_squared_error`)."""

    _fn = staticmethod(mean_squared_error)

    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "mean_squared_error"
    ):
        super().__init__(name=name, reduction=reduction)

    def target_sampler(self) -> TargetSampler | None:
        """z + 𝒩(0, k/2) over k outputs, with s = 1: the Gaussian whose score has the
        covariance 2/k, the loss's Hessian in z."""
        return _gaussian_draws


class MeanAbsoluteError(_ElementwiseLoss):
    """Mean absolute error (see :func:`mean_absolute_error`)."""

    _fn = staticmethod(mean_absolute_error)

    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "mean_absolute_error"
    ):
        super().__init__(name=name, reduction=reduction)


class Huber(_ElementwiseLoss):
    """Huber loss with threshold ``delta`` (see :func:`huber`)."""

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber_loss",
    ):
        super().__init__(name=name, reduction=reduction)
        if isinstance(delta, bool) or not isinstance(delta, int | float) or not delta > 0:
            raise ValueError(f"delta must be a positive number, got {delta!r}")
        self.delta = float(delta)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return huber(y_true, y_pred, self.delta)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "delta": self.delta}


class Hinge(_ElementwiseLoss):
    """Hinge loss (see :func:`hinge`)."""

    _fn = staticmethod(hinge)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "hinge"):
        super().__init__(name=name, reduction=reduction)


class SquaredHinge(_ElementwiseLoss):
    """Squared hinge loss (see :func:`squared_hinge`)."""

    _fn = staticmethod(squared_hinge)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "squared_hinge"):
        super().__init__(name=name, reduction=reduction)


class KLDivergence(_ElementwiseLoss):
    """Kullback–Leibler divergence KL(y ‖ ŷ) (see :func:`kl_divergence`)."""

    _fn = staticmethod(kl_divergence)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "kl_divergence"):
        super().__init__(name=name, reduction=reduction)


class CosineSimilarity(_ElementwiseLoss):
    """Negated cosine similarity along ``axis`` (see :func:`cosine_similarity`)."""

    _fn = staticmethod(cosine_similarity)

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cosine_similarity",
    ):
        super().__init__(name=name, reduction=reduction)
        self.axis = axis

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return cosine_similarity(y_true, y_pred, axis=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Poisson(_ElementwiseLoss):
    """Poisson loss (see :func:`poisson`)."""

    _fn = staticmethod(poisson)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "poisson"):
        super().__init__(name=name, reduction=reduction)


class LogCosh(_ElementwiseLoss):
    """Log-cosh loss (see :func:`log_cosh`)."""

    _fn = staticmethod(log_cosh)

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "log_cosh"):
        super().__init__(name=name, reduction=reduction)


# --------------------------------------------------------------------------- look-up

_CLASSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        BinaryCrossentropy,
        CategoricalCrossentropy,
        CosineSimilarity,
        Hinge,
        Huber,
        KLDivergence,
        LogCosh,
        LossFunctionWrapper,
        MeanAbsoluteError,
        MeanSquaredError,
        Poisson,
        SparseCategoricalCrossentropy,
        SquaredHinge,
    )
}

# Keras's string identifiers (class names match too: look-up ignores case and "_").
_BY_NAME: dict[str, type[Loss]] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "cce": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "scce": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "huber": Huber,
    "huber_loss": Huber,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson,
    "cosine_similarity": CosineSimilarity,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
}

_FUNCTIONS: dict[str, LossFunction] = {
    fn.__name__: fn
    for fn in (
        binary_crossentropy,
        categorical_crossentropy,
        cosine_similarity,
        hinge,
        huber,
        kl_divergence,
        log_cosh,
        mean_absolute_error,
        mean_squared_error,
        poisson,
        sparse_categorical_crossentropy,
        squared_hinge,
    )
}


def get(identifier: str | Mapping[str, Any] | Loss | LossFunction | None) -> Loss | None:
    """Resolve a loss identifier to a :class:`Loss`.

    ``None`` → ``None``; a Keras name (``"mse"``, ``"categorical_crossentropy"``, ...) → that
    loss with default arguments; a config dict → :func:`deserialize`; a ``Loss`` → itself;
    one of this module's functions → its class; any other callable
    ``fn(y_true, y_pred) -> per-sample values`` → :class:`LossFunctionWrapper`.
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        return lookup("loss", identifier, _BY_NAME)()
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        for name, fn in _FUNCTIONS.items():
            if fn is identifier:
                return lookup("loss", name, _BY_NAME)()
        return LossFunctionWrapper(cast(LossFunction, identifier))
    raise TypeError(
        "loss must be None, a name such as 'mse', a config dict, a Loss or a callable "
        f"(y_true, y_pred) -> Tensor; got {type(identifier).__name__}: {identifier!r}"
    )


def serialize(loss: Loss) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` of a loss (JSON-safe)."""
    return _serialize(loss)


def deserialize(config: Mapping[str, Any]) -> Loss:
    """Rebuild a loss from :func:`serialize`'s output; only this module's classes are built."""
    return _deserialize("loss", config, _CLASSES)
