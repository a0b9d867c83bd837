"""Global settings, as ``keras.config``: the float type, the backend, ε, the image layout.

``set_floatx("float64")`` makes new weights and tensors converted from Python numbers or
NumPy float64 arrays float64; it sets torch's default dtype too, so that torch code written
next to deepdescent agrees with it. The backend is always ``"torch"``.
"""

from __future__ import annotations

from typing import Any

import torch

from deepdescent.utils._checks import check_argument, is_number

__all__ = [
    "DTypePolicy",
    "backend",
    "disable_traceback_filtering",
    "dtype_policy",
    "epsilon",
    "floatx",
    "floatx_dtype",
    "image_data_format",
    "is_traceback_filtering_enabled",
    "set_dtype_policy",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
    "standardize_dtype",
]

_FLOAT_TYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
_DTYPES = {
    **_FLOAT_TYPES,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_IMAGE_DATA_FORMATS = ("channels_last", "channels_first")

_settings: dict[str, Any] = {
    "epsilon": 1e-7,
    "image_data_format": "channels_last",
    "dtype_policy": None,
}
_POLICIES = ("float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")


class DTypePolicy:
    """Keras's dtype policy: the dtype weights are kept in and the dtype layers compute
    in. ``"mixed_float16"`` and ``"mixed_bfloat16"`` keep float32 weights (and optimizer
    state) and compute in half precision; ``fit`` then runs the forward pass under
    ``torch.autocast`` and, for float16, scales the loss (see
    :mod:`deepdescent.training.precision`).
    """

    def __init__(self, name: str = "float32") -> None:
        check_argument("policy", name, name in _POLICIES, f"one of {', '.join(_POLICIES)}")
        self.name = name
        compute = name.removeprefix("mixed_")
        self.compute_dtype = compute
        self.variable_dtype = "float32" if name.startswith("mixed_") else compute

    @property
    def is_mixed(self) -> bool:
        return self.name.startswith("mixed_")

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self.name}">'


def dtype_policy() -> DTypePolicy:
    """The global dtype policy (``floatx`` unless :func:`set_dtype_policy` changed it)."""
    policy = _settings["dtype_policy"]
    return policy if policy is not None else DTypePolicy(floatx())


def set_dtype_policy(policy: str | DTypePolicy) -> None:
    """Set the global dtype policy of models made afterwards: ``"mixed_float16"``,
    ``"mixed_bfloat16"``, or a plain float type."""
    _settings["dtype_policy"] = policy if isinstance(policy, DTypePolicy) else DTypePolicy(policy)


def backend() -> str:
    """The backend's name: ``"torch"``."""
    return "torch"


def is_traceback_filtering_enabled() -> bool:
    """Always ``False``: deepdescent never hides its own frames from a traceback (Keras
    does by default, to show the user's code first)."""
    return False


def disable_traceback_filtering() -> None:
    """Keras programs call this to see full tracebacks; deepdescent's are always full,
    so there is nothing to turn off."""


def floatx() -> str:
    """The default float type's name (``"float32"`` unless :func:`set_floatx` changed it)."""
    return str(torch.get_default_dtype()).removeprefix("torch.")


def floatx_dtype() -> torch.dtype:
    """The default float type as a ``torch.dtype``."""
    return torch.get_default_dtype()


def set_floatx(value: str) -> None:
    """Make ``value`` (``"float16"``, ``"bfloat16"``, ``"float32"``, ``"float64"``) the
    default float type of new weights and converted tensors."""
    check_argument("value", value, value in _FLOAT_TYPES, f"one of {', '.join(_FLOAT_TYPES)}")
    torch.set_default_dtype(_FLOAT_TYPES[value])


def standardize_dtype(dtype: Any) -> torch.dtype:
    """A ``torch.dtype`` from a name (``"float32"``, ``"int32"``), a NumPy or torch dtype;
    ``None`` is the default float type."""
    if dtype is None:
        return torch.get_default_dtype()
    if isinstance(dtype, torch.dtype):
        return dtype
    name = getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or str(dtype)
    name = name.removeprefix("torch.")
    check_argument("dtype", dtype, name in _DTYPES, f"one of {', '.join(_DTYPES)}")
    return _DTYPES[name]


def epsilon() -> float:
    """The fuzz factor ε that Keras adds to avoid division by zero (1e-7)."""
    return float(_settings["epsilon"])


def set_epsilon(value: float) -> None:
    check_argument("value", value, is_number(value) and value > 0, "a finite number > 0")
    _settings["epsilon"] = float(value)


def image_data_format() -> str:
    """The default layout of image layers: ``"channels_last"`` (``(batch, h, w, c)``) as
    Keras, or ``"channels_first"`` (torch's ``(batch, c, h, w)``)."""
    return str(_settings["image_data_format"])


def set_image_data_format(data_format: str) -> None:
    check_argument(
        "data_format",
        data_format,
        data_format in _IMAGE_DATA_FORMATS,
        "'channels_last' or 'channels_first'",
    )
    _settings["image_data_format"] = data_format
