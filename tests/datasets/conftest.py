"""Fixtures for the data-layer tests: a local HTTP server, tiny IDX data sets, roots that
keep a test away from the machine's data and the network, and a served data set."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from deepdescent.datasets import files, write_idx


class _Server:
    """What the test server serves and what it was asked for.

    ``routes`` maps a path (``"/name"``) to the bytes to send; ``short`` holds paths whose
    body is cut to half its announced ``Content-Length``; ``hits`` counts GETs per path.
    """

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/"
        self.routes: dict[str, bytes] = {}
        self.short: set[str] = set()
        self.hits: collections.Counter[str] = collections.Counter()

    def url(self, name: str) -> str:
        return self.base + name


def _handler(state: list[_Server]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 5  # a stuck client cannot hang the test run

        def do_GET(self) -> None:
            server = state[0]
            server.hits[self.path] += 1
            body = server.routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if self.path in server.short else body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

    return Handler


@pytest.fixture
def http_server() -> Iterator[_Server]:
    """An HTTP server on 127.0.0.1 in a thread, shut down after the test."""
    state: list[_Server] = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.append(_Server(httpd.server_address[1]))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


Split = tuple[np.ndarray, np.ndarray]

FILE_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture
def make_tiny() -> Callable[..., tuple[Split, Split]]:
    """Write a tiny MNIST-like data set (5 train, 3 test images) whose pixels start at
    ``seed``, so that each folder in a test holds recognizably different data."""

    def make(folder: Path, seed: int = 0, gz: bool = True) -> tuple[Split, Split]:
        rng = np.random.default_rng(seed)
        arrays = []
        for n in (5, 3):
            arrays.append(rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
            arrays.append(rng.integers(0, 10, size=n, dtype=np.uint8))
        arrays[0][0, 0, 0] = seed  # a marker that tells the folders apart
        for name, array in zip(FILE_NAMES, arrays, strict=True):
            write_idx(folder / (name if gz else name.removesuffix(".gz")), array)
        return (arrays[0], arrays[1]), (arrays[2], arrays[3])

    return make


@pytest.fixture
def isolated_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every root at the test's folder (``data``: ``$DEEPDESCENT_DATA``, ``default``,
    ``debian``) and every loader's origin at a file:// address that does not exist, so that
    no test reads the machine's data or reaches the network."""
    from deepdescent.datasets import fashion_mnist, mnist

    monkeypatch.setenv("DEEPDESCENT_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(files, "DEFAULT_DATA_ROOT", tmp_path / "default")
    monkeypatch.setattr(files, "DEBIAN_ROOT", tmp_path / "debian")
    for module in (mnist, fashion_mnist):
        offline = (tmp_path / "offline").as_uri() + "/"
        monkeypatch.setattr(module, "SPEC", dataclasses.replace(module.SPEC, base_url=offline))


@pytest.fixture
def data_folder(tmp_path: Path) -> Callable[[str, ModuleType], Path]:
    """Where a loader looks for its files under one of the isolated roots."""

    def folder(root: str, module: ModuleType) -> Path:
        return tmp_path / root / module.SPEC.name

    return folder


@pytest.fixture
def assert_loaded() -> Callable[[tuple, tuple], None]:
    """Check what ``load_data`` returned against the arrays ``make_tiny`` wrote."""

    def check(got: tuple, expected: tuple) -> None:
        (x_train, y_train), (x_test, y_test) = got
        arrays = (x_train, y_train, x_test, y_test)
        for array, reference in zip(arrays, (*expected[0], *expected[1]), strict=True):
            assert array.dtype == np.uint8
            np.testing.assert_array_equal(array, reference)

    return check


@pytest.fixture
def serve(
    tmp_path: Path, make_tiny, http_server, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[Split, Split]]:
    """Serve a tiny data set and point ``module.SPEC`` at it, with its true digests;
    ``tamper`` names a file served with a byte too many."""

    def serve_module(module: ModuleType, seed: int = 6, tamper: str | None = None):
        expected = make_tiny(tmp_path / "served", seed=seed)
        digests = {}
        for name in FILE_NAMES:
            body = (tmp_path / "served" / name).read_bytes()
            digests[name] = hashlib.sha256(body).hexdigest()
            http_server.routes["/" + name] = body + b"x" if name == tamper else body
        spec = dataclasses.replace(module.SPEC, base_url=http_server.url(""), sha256=digests)
        monkeypatch.setattr(module, "SPEC", spec)
        return expected

    return serve_module
