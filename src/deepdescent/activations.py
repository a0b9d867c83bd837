"""Activation functions φ applied to a layer's pre-activation ``z`` (Keras 3 names and defaults).

Every function takes and returns a ``torch.Tensor`` of the same shape and stays on its
device. ``get`` turns a Keras identifier (``"relu"``, ``"softmax"``, ``None``) into the
function, ``serialize`` turns a function back into its registered name.

Warning:
    Keras 3 has two GELU defaults: ``keras.ops.gelu`` uses the tanh approximation, while
    ``keras.activations.gelu`` (what ``activation="gelu"`` resolves to) computes the exact
    erf form. This module follows ``keras.activations``: ``gelu(x, approximate=False)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from deepdescent.utils._lookup import lookup

__all__ = [
    "elu",
    "exponential",
    "gelu",
    "get",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mish",
    "names",
    "relu",
    "relu6",
    "selu",
    "serialize",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]

Activation = Callable[..., torch.Tensor]


def linear(x: torch.Tensor) -> torch.Tensor:
    """Identity: φ(x) = x."""
    return x


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Logistic sigmoid: σ(x) = 1 / (1 + exp(−x))."""
    return torch.sigmoid(x)


def softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """softmax(x)_i = exp(x_i) / Σ_j exp(x_j) along ``axis``."""
    return torch.softmax(x, dim=axis)


def log_softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """log softmax(x)_i = x_i − log Σ_j exp(x_j) along ``axis``, computed stably."""
    return torch.log_softmax(x, dim=axis)


def relu(
    x: torch.Tensor,
    negative_slope: float = 0.0,
    max_value: float | None = None,
    threshold: float = 0.0,
) -> torch.Tensor:
    """Rectified linear unit, Keras's generalised form.

    φ(x) = clip(x·[x > θ], 0, max_value) − negative_slope·max(θ − x, 0), with θ = ``threshold``.
    The defaults give max(x, 0).
    """
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return F.relu(x)
    positive = torch.where(x > threshold, x, 0.0)
    if max_value is not None:
        positive = positive.clamp(0.0, max_value)
    if negative_slope == 0.0:
        return positive
    return positive - negative_slope * F.relu(threshold - x)


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.2) -> torch.Tensor:
    """φ(x) = x for x ≥ 0, negative_slope·x otherwise (Keras 3 default slope 0.2)."""
    return F.leaky_relu(x, negative_slope=negative_slope)


def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Exponential linear unit: x for x > 0, α(exp(x) − 1) otherwise (Clevert et al., 2016)."""
    return F.elu(x, alpha=alpha)


def selu(x: torch.Tensor) -> torch.Tensor:
    """Scaled ELU: λ·elu(x, α) with α ≈ 1.6732632, λ ≈ 1.0507010 (Klambauer et al., 2017)."""
    return F.selu(x)


def gelu(x: torch.Tensor, approximate: bool = False) -> torch.Tensor:
    """Gaussian error linear unit: x·Φ(x) = ½x(1 + erf(x/√2)) (Hendrycks & Gimpel, 2016).

    ``approximate=True`` uses ½x(1 + tanh(√(2/π)(x + 0.044715x³))). The default is the exact
    form, as ``keras.activations.gelu``; ``keras.ops.gelu`` defaults to the approximation.
    """
    return F.gelu(x, approximate="tanh" if approximate else "none")


def tanh(x: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent: (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)."""
    return torch.tanh(x)


def softplus(x: torch.Tensor) -> torch.Tensor:
    """softplus(x) = log(1 + exp(x)), computed stably for large |x|."""
    return F.softplus(x)


def softsign(x: torch.Tensor) -> torch.Tensor:
    """softsign(x) = x / (1 + |x|)."""
    return F.softsign(x)


def silu(x: torch.Tensor) -> torch.Tensor:
    """SiLU / swish: x·σ(x) (Ramachandran et al., 2017)."""
    return F.silu(x)


swish = silu


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear sigmoid of Keras 3: relu6(x + 3) / 6."""
    return F.hardsigmoid(x)


def hard_silu(x: torch.Tensor) -> torch.Tensor:
    """Hard SiLU / hard swish: x·relu6(x + 3) / 6 (Howard et al., 2019)."""
    return F.hardswish(x)


hard_swish = hard_silu


def exponential(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = exp(x)."""
    return torch.exp(x)


def relu6(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = min(max(x, 0), 6)."""
    return F.relu6(x)


def mish(x: torch.Tensor) -> torch.Tensor:
    """Mish: x·tanh(softplus(x)) (Misra, 2019)."""
    return F.mish(x)


# Canonical names first: ``serialize`` reports the first name registered for a function.
_BY_NAME: dict[str, Activation] = {
    "linear": linear,
    "sigmoid": sigmoid,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "tanh": tanh,
    "softplus": softplus,
    "softsign": softsign,
    "silu": silu,
    "swish": swish,
    "hard_sigmoid": hard_sigmoid,
    "hard_silu": hard_silu,
    "hard_swish": hard_swish,
    "exponential": exponential,
    "relu6": relu6,
    "mish": mish,
}

_NAME_OF: dict[Activation, str] = {fn: name for name, fn in reversed(_BY_NAME.items())}


def names() -> list[str]:
    """Every activation name :func:`get` knows, in table order."""
    return list(_BY_NAME)


def get(identifier: str | Mapping[str, Any] | Activation | None) -> Activation:
    """Resolve an activation identifier.

    ``None`` → :func:`linear`; a name (matched ignoring case, ``_`` and ``-``) → the function;
    a ``{"class_name": name}`` dict → the function of that name; a callable → itself.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return lookup("activation", identifier, _BY_NAME)
    if isinstance(identifier, Mapping):
        if "class_name" not in identifier:
            raise ValueError(
                f"activation config must be a dict with 'class_name', got {identifier!r}"
            )
        return lookup("activation", identifier["class_name"], _BY_NAME)
    if callable(identifier):
        return identifier
    raise TypeError(
        "activation must be None, a name such as 'relu', or a callable; "
        f"got {type(identifier).__name__}: {identifier!r}"
    )


def serialize(fn: Activation) -> str:
    """The registered name of an activation function (``serialize(relu) == "relu"``).

    Raises ``ValueError`` for a callable that is not one of this module's functions, since a
    saved config can only name registered activations.
    """
    try:
        return _NAME_OF[fn]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation {fn!r} is not a registered activation and cannot be saved; "
            f"use one of: {', '.join(sorted(_BY_NAME))}"
        ) from None
