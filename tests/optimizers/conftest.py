"""Fixtures the optimizer tests share."""

from __future__ import annotations

import pytest

from deepdescent.optimizers import handwritten


@pytest.fixture
def handwritten_calls(monkeypatch):
    """Each call of a hand-written body, recorded (the body still runs)."""
    calls = []
    for kernel, body in list(handwritten.BODIES.items()):

        def recorded(*args, body=body):
            calls.append(args)
            body(*args)

        monkeypatch.setitem(handwritten.BODIES, kernel, recorded)
    return calls
