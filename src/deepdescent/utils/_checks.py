"""Argument checks and naming helpers shared by every package, written once.

Every check raises ``ValueError("Invalid <name>: <value> (expected <rule>)")``: the
argument, the value received and the rule, before any work is done. NumPy scalars count
as the Python numbers they stand for (``np.float32(0.1)``, ``np.int64(3)``).
"""

from __future__ import annotations

import math
import re
from numbers import Integral, Real
from typing import Any, TypeGuard

__all__ = [
    "check_argument",
    "check_count",
    "check_fraction",
    "check_non_negative",
    "check_positive",
    "is_integer",
    "is_number",
    "is_real",
    "plain_number",
    "snake_case",
    "unique_name",
]


def check_argument(name: str, value: Any, ok: bool, rule: str) -> None:
    """Raise ``ValueError("Invalid <name>: <value> (expected <rule>)")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"Invalid {name}: {value!r} (expected {rule})")


def is_number(value: Any) -> bool:
    """A finite real number (not a bool)."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def is_real(value: Any) -> TypeGuard[float]:
    """A real number (not a bool), finite or not: Python's or NumPy's."""
    return isinstance(value, Real) and not isinstance(value, bool)


def plain_number(value: Any) -> Any:
    """A NumPy scalar as the Python number it stands for (in tuples and lists too);
    anything else unchanged. Hyperparameters are stored plain, so configs stay JSON."""
    if isinstance(value, (tuple, list)):
        return type(value)(plain_number(v) for v in value)
    if isinstance(value, (Integral, Real)) and not isinstance(value, (bool, int, float)):
        return value.item() if hasattr(value, "item") else float(value)
    return value


def is_integer(value: Any) -> bool:
    """An integer (not a bool)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` must be an int >= ``minimum`` (a period, a count, a patience)."""
    check_argument(name, value, is_integer(value) and value >= minimum, f"an int >= {minimum}")
    return int(value)


def check_non_negative(name: str, value: Any) -> float:
    """``value`` must be a finite number >= 0."""
    check_argument(name, value, is_number(value) and value >= 0, "a finite number >= 0")
    return float(value)


def check_positive(name: str, value: Any) -> float:
    """``value`` must be a finite number > 0."""
    check_argument(name, value, is_number(value) and value > 0, "a finite number > 0")
    return float(value)


def check_fraction(name: str, value: Any) -> float:
    """``value`` must be a number in [0, 1]."""
    check_argument(name, value, is_number(value) and 0 <= value <= 1, "a number in [0, 1]")
    return float(value)


def snake_case(name: str) -> str:
    """Keras's default names: ``"BatchNormalization"`` → ``"batch_normalization"``,
    ``"Conv2D"`` → ``"conv2d"``, ``"LSTM"`` → ``"lstm"``, ``"SimpleRNN"`` → ``"simple_rnn"``
    (a capital starts a word only before lower case, or after a lower-case letter)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str, taken: set[str]) -> str:
    """Keras's default name for a layer among ``taken`` ones: ``base``, else ``base_1``,
    ``base_2`` ..."""
    name, count = base, 0
    while name in taken:
        count += 1
        name = f"{base}_{count}"
    return name
