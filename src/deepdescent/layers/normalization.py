r"""Normalization layers: batch normalization and layer normalization.

**Batch normalization** (Ioffe & Szegedy 2015; Goodfellow et al. §8.7.1). A minibatch of
activations H (one row per example) is replaced by

    H′ = (H − μ) / σ,    μ = (1/m) Σᵢ H_{i,:},    σ = √(δ + (1/m) Σᵢ (H − μ)ᵢ²)

then γH′ + β, with learned γ and β, so that the layer below no longer has to keep the
statistics of its output fixed for the layers above: an update to the lower layers cannot
change the mean and variance the next layer sees, which is what lets a deep network train
at learning rates that would otherwise make it diverge. μ and σ are computed on the
minibatch while training, and back-propagation goes through them. At inference the layer
uses running averages kept while training (Keras's convention):

    moving_mean ← momentum · moving_mean + (1 − momentum) · μ
    moving_variance ← momentum · moving_variance + (1 − momentum) · σ²_B

with σ²_B = (1/m) Σᵢ (H − μ)ᵢ², the biased minibatch variance.

**Layer normalization** (Ba, Kiros & Hinton 2016) normalizes each example over its own
features instead of over the minibatch — the same in training and at inference, and
defined for a batch of one.

Warning:
    torch.nn.BatchNorm1d names the momentum the other way round (torch's 0.1 is Keras's
    0.9) and keeps the *unbiased* variance (·m/(m − 1)) in ``running_var``; the
    normalization itself is the same. Keras's defaults: ``momentum=0.99``,
    ``epsilon=1e-3`` (torch: 0.1 and 1e-5). Every forward pass in training mode updates
    the moving averages, including the extra passes of methods that evaluate the loss more
    than once per step (line searches, SAM, continuation).

References:
    S. Ioffe & C. Szegedy, "Batch normalization: accelerating deep network training by
    reducing internal covariate shift", ICML 2015. J. L. Ba, J. R. Kiros & G. E. Hinton,
    "Layer normalization", arXiv:1607.06450 (2016). Goodfellow, Bengio & Courville,
    *Deep Learning*, §8.7.1 (2016).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch

from deepdescent import initializers, regularizers
from deepdescent.layers.base import Layer, Shape
from deepdescent.utils._checks import check_argument, check_positive, is_integer, is_number

__all__ = ["BatchNormalization", "LayerNormalization"]


def _serialize_optional(module: Any, obj: Any) -> Any:
    return None if obj is None else module.serialize(obj)


def _initial(initializer: Any, argument: str, shape: tuple[int, ...]) -> torch.Tensor:
    check_argument(argument, initializer, initializer is not None, "an initializer")
    return initializer(shape)


class _Normalization(Layer):
    """γ and β over some axes, their initializers and regularizers: what both share."""

    gamma: torch.nn.Parameter | None
    beta: torch.nn.Parameter | None

    def __init__(
        self,
        axis: Any,
        epsilon: float,
        center: bool,
        scale: bool,
        beta_initializer: Any,
        gamma_initializer: Any,
        beta_regularizer: Any,
        gamma_regularizer: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_positive("epsilon", epsilon)
        for name, flag in (("center", center), ("scale", scale)):
            check_argument(name, flag, isinstance(flag, bool), "True or False")
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.gamma, self.beta = None, None

    def _axes(self, input_shape: Shape) -> tuple[int, ...]:
        """The normalized axes as non-negative indices, checked against the input rank."""
        axes = (self.axis,) if is_integer(self.axis) else tuple(self.axis)
        rank = len(input_shape)
        check_argument(
            "axis",
            self.axis,
            bool(axes) and all(is_integer(a) and -rank < a < rank and a % rank != 0 for a in axes),
            f"feature axes of inputs of rank {rank}: not the batch axis 0",
        )
        resolved = tuple(sorted({a % rank for a in axes}))
        unknown = [a for a in resolved if input_shape[a] is None]
        check_argument("axis", self.axis, not unknown, f"axes of known size in {input_shape}")
        return resolved

    def _make_affine(self, shape: tuple[int, ...]) -> None:
        if self.scale:
            self.gamma = torch.nn.Parameter(
                _initial(self.gamma_initializer, "gamma_initializer", shape)
            )
        if self.center:
            self.beta = torch.nn.Parameter(
                _initial(self.beta_initializer, "beta_initializer", shape)
            )

    def _affine(self, normalized: torch.Tensor, broadcast: list[int]) -> torch.Tensor:
        if self.gamma is not None:
            normalized = normalized * self.gamma.reshape(broadcast)
        if self.beta is not None:
            normalized = normalized + self.beta.reshape(broadcast)
        return normalized

    def regularization_losses(self) -> list[torch.Tensor]:
        terms = []
        if self.gamma_regularizer is not None and self.gamma is not None:
            terms.append(self.gamma_regularizer(self.gamma))
        if self.beta_regularizer is not None and self.beta is not None:
            terms.append(self.beta_regularizer(self.beta))
        return terms

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis if is_integer(self.axis) else list(self.axis),
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": _serialize_optional(initializers, self.beta_initializer),
            "gamma_initializer": _serialize_optional(initializers, self.gamma_initializer),
            "beta_regularizer": _serialize_optional(regularizers, self.beta_regularizer),
            "gamma_regularizer": _serialize_optional(regularizers, self.gamma_regularizer),
        }


class BatchNormalization(_Normalization):
    """Batch normalization (Ioffe & Szegedy 2015), with Keras's arguments and defaults.

    Normalizes each feature along ``axis`` (the last by default) with the statistics of
    the minibatch while training — over every other axis: the examples, and the positions
    of a sequence or an image — and with the moving averages at inference. Its weights,
    in :meth:`~deepdescent.models.Model.get_weights` order as Keras's: γ, β,
    ``moving_mean``, ``moving_variance`` (the last two buffers, not trained).

    Args:
        axis: the feature axis (not the batch axis 0).
        momentum: the moving averages' decay, in [0, 1) (Keras's 0.99; torch's 0.01).
        epsilon: δ > 0 inside the square root.
        center, scale: learn β and γ.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: initializers (names or objects).
        beta_regularizer, gamma_regularizer: penalties on β and γ.

    Raises:
        ValueError: in training, when a feature has a single value in the minibatch (a
            batch of one example, without other axes): its variance is 0 and H′ would be
            0/√δ — use a larger (or evenly dividing) ``batch_size``, or LayerNormalization.
    """

    moving_mean: torch.Tensor
    moving_variance: torch.Tensor

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        check_argument("axis", axis, is_integer(axis), "an int, the feature axis")
        check_argument(
            "momentum", momentum, is_number(momentum) and 0 <= momentum < 1, "0 <= momentum < 1"
        )
        super().__init__(
            axis,
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            **kwargs,
        )
        self.momentum = float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self._feature_axis = 0
        if self.build_input_shape is not None:
            self.build(self.build_input_shape)

    def build(self, input_shape: Shape) -> None:
        (self._feature_axis,) = self._axes(input_shape)
        features = int(cast(int, input_shape[self._feature_axis]))
        self._make_affine((features,))
        mean = _initial(self.moving_mean_initializer, "moving_mean_initializer", (features,))
        variance = _initial(
            self.moving_variance_initializer, "moving_variance_initializer", (features,)
        )
        self.register_buffer("moving_mean", mean)
        self.register_buffer("moving_variance", variance)
        super().build(input_shape)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        axis = self._feature_axis
        broadcast = [1] * inputs.dim()
        broadcast[axis] = inputs.shape[axis]
        if self.training:
            reduced = [a for a in range(inputs.dim()) if a != axis]
            values = inputs.numel() // max(1, inputs.shape[axis])
            if values < 2:
                raise ValueError(
                    f"BatchNormalization needs more than one value per feature while "
                    f"training, got inputs of shape {tuple(inputs.shape)}: a minibatch of "
                    "one example has variance 0, so H′ = (H − μ)/σ is 0 for every input. "
                    "Use a batch_size > 1 that leaves no single example over, or "
                    "LayerNormalization"
                )
            variance, mean = torch.var_mean(inputs, dim=reduced, correction=0, keepdim=True)
            self._update_moving_averages(mean, variance)
        else:
            mean = self.moving_mean.reshape(broadcast)
            variance = self.moving_variance.reshape(broadcast)
        normalized = (inputs - mean) * torch.rsqrt(variance + self.epsilon)
        return self._affine(normalized, broadcast)

    @torch.no_grad()
    def _update_moving_averages(self, mean: torch.Tensor, variance: torch.Tensor) -> None:
        weight = 1.0 - self.momentum
        self.moving_mean.lerp_(mean.reshape(-1).to(self.moving_mean.dtype), weight)
        self.moving_variance.lerp_(variance.reshape(-1).to(self.moving_variance.dtype), weight)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "moving_mean_initializer": _serialize_optional(
                initializers, self.moving_mean_initializer
            ),
            "moving_variance_initializer": _serialize_optional(
                initializers, self.moving_variance_initializer
            ),
        }


class LayerNormalization(_Normalization):
    """Layer normalization (Ba, Kiros & Hinton 2016), with Keras's arguments and defaults.

    Each example is normalized over ``axis`` (the last by default; a list for several):
    H′ = (H − μ)/√(δ + σ²) with μ and σ² the mean and (biased) variance of that example's
    features, then γH′ + β with γ, β of the normalized axes' shape. Nothing depends on
    the rest of the batch, so training and inference compute the same thing.

    Args:
        axis: the normalized axis or axes (not the batch axis 0).
        epsilon: δ > 0 inside the square root (Keras's 1e-3; torch's 1e-5).
        center, scale: learn β and γ.
        beta_initializer, gamma_initializer: initializers.
        beta_regularizer, gamma_regularizer: penalties on β and γ.
    """

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        check_argument(
            "axis",
            axis,
            is_integer(axis)
            or (isinstance(axis, Sequence) and bool(axis) and all(is_integer(a) for a in axis)),
            "an int or a list of ints",
        )
        super().__init__(
            axis,
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            **kwargs,
        )
        self._normalized_axes: tuple[int, ...] = ()
        if self.build_input_shape is not None:
            self.build(self.build_input_shape)

    def build(self, input_shape: Shape) -> None:
        self._normalized_axes = self._axes(input_shape)
        self._make_affine(tuple(int(cast(int, input_shape[a])) for a in self._normalized_axes))
        super().build(input_shape)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        axes = list(self._normalized_axes)
        variance, mean = torch.var_mean(inputs, dim=axes, correction=0, keepdim=True)
        normalized = (inputs - mean) * torch.rsqrt(variance + self.epsilon)
        broadcast = [inputs.shape[a] if a in axes else 1 for a in range(inputs.dim())]
        return self._affine(normalized, broadcast)
