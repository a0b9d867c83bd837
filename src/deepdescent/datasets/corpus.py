"""A tiny English corpus shipped with the package (about 3,500 characters on optimizing
deep models, written for deepdescent), for text tools' tests and the character-level
language-model example: no download, always there."""

from __future__ import annotations

from importlib import resources

__all__ = ["FILE_NAME", "load_data"]

FILE_NAME = "optimization.txt"


def load_data() -> str:
    """The corpus as one string (paragraphs separated by blank lines)."""
    return (
        resources.files("deepdescent.datasets")
        .joinpath("data", FILE_NAME)
        .read_text(encoding="utf-8")
    )
