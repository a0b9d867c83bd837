"""JSON configs of Keras-style objects: ``{"class_name": ..., "config": {...}}``.

Deserialization only ever instantiates classes found in an explicit table, so a config
read from disk can never name arbitrary code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepdescent.utils._lookup import lookup


def serialize(obj: Any) -> dict[str, Any]:
    """The JSON-safe ``{"class_name", "config"}`` form of an object with ``get_config``."""
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def deserialize(kind: str, spec: Mapping[str, Any], table: Mapping[str, type]) -> Any:
    """Rebuild an object from :func:`serialize`'s output, looking its class up in ``table``."""
    if not isinstance(spec, Mapping) or "class_name" not in spec:
        raise ValueError(f"{kind} config must be a dict with 'class_name', got {spec!r}")
    cls = lookup(kind, spec["class_name"], table)
    return cls(**dict(spec.get("config") or {}))
