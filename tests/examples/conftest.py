"""The examples' demonstrations, run at a small size: each example module is loaded by
path (examples/ is not a package) and its functions called with small arguments."""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def load_example() -> Callable[[str], dict[str, Any]]:
    """``load_example(name)``: the namespace of ``examples/<name>.py``, its ``main`` not
    run."""

    def load(name: str) -> dict[str, Any]:
        return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name=f"example_{name}")

    return load
