"""String identifiers → objects, with errors that list the valid names."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def normalize_name(name: str) -> str:
    """Keras identifiers are matched without case, underscores or dashes."""
    return name.lower().replace("_", "").replace("-", "")


def lookup(kind: str, name: str, table: Mapping[str, T]) -> T:
    """Return ``table[name]`` matched loosely, or raise a ``ValueError`` that names
    ``kind``, lists the valid names and suggests the closest one."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} must be a string identifier, got {type(name).__name__}")
    by_normal = {normalize_name(key): value for key, value in table.items()}
    found = by_normal.get(normalize_name(name))
    if found is not None:
        return found
    close = difflib.get_close_matches(name.lower(), list(table), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    valid = ", ".join(sorted(table))
    raise ValueError(f"Unknown {kind} {name!r}.{hint} Valid names: {valid}.")
