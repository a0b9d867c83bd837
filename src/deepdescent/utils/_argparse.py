"""Argument types shared by the ``deepdescent`` command's verbs."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["json_object", "names", "optimizer_settings", "positive_int"]


def positive_int(text: str) -> int:
    """An int > 0, or argparse's error naming what was expected."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def json_object(text: str) -> dict[str, Any]:
    """A JSON object (``'{"momentum": 0.9}'``) as a dict."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"expected a JSON object: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def names(text: str) -> list[str]:
    """Comma-separated names (``"sgd, adam"``), at least one, spaces around them dropped."""
    found = [name.strip() for name in text.split(",") if name.strip()]
    if not found:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return found


def optimizer_settings(text: str) -> dict[str, dict[str, Any]]:
    """Hyperparameters per optimizer, ``'{"adam": {"lr": 0.1}}'``, as a dict of dicts."""
    value = json_object(text)
    if not all(isinstance(v, dict) for v in value.values()):
        raise argparse.ArgumentTypeError(
            f'expected {{"optimizer": {{"hyperparameter": value}}}}, got {text!r}'
        )
    return value
