"""Batch logs computed on demand (:class:`LazyLogs`) and the one-line messages that verbose
callbacks write (:func:`emit`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from typing import TextIO

__all__ = ["LazyLogs", "Logs", "emit"]

Logs = Mapping[str, float]


class LazyLogs(Mapping[str, float]):
    """A read-only mapping whose values are computed on first read, then cached.

    Built from ``{name: zero-argument callable returning a float}``. Listing the keys,
    ``len`` and ``in`` never call anything; ``logs[name]``, ``get``, ``items`` and
    ``values`` call (once) the callables of the names they read.
    """

    __slots__ = ("_cache", "_getters")

    def __init__(self, getters: Mapping[str, Callable[[], float]]) -> None:
        self._getters = dict(getters)
        self._cache: dict[str, float] = {}

    def __getitem__(self, name: str) -> float:
        if name not in self._cache:
            self._cache[name] = float(self._getters[name]())
        return self._cache[name]

    def __contains__(self, name: object) -> bool:
        return name in self._getters

    def __iter__(self) -> Iterator[str]:
        return iter(self._getters)

    def __len__(self) -> int:
        return len(self._getters)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k!r}: {self._cache.get(k, '<not read>')}" for k in self._getters)
        return f"LazyLogs({{{shown}}})"


def emit(stream: TextIO | None, message: str) -> None:
    """Write one line of a verbose callback's message to ``stream`` (``None``: stdout)."""
    out = sys.stdout if stream is None else stream
    out.write(message + "\n")
    out.flush()
