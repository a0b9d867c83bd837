"""Batch logs computed only when read (LazyLogs) and the one-line messages of verbose
callbacks (emit)."""

from __future__ import annotations

import io

import pytest
import torch

from deepdescent.callbacks.logs import LazyLogs, emit


class Counter:
    """A zero-argument callable that counts its calls (a stand-in for a device read)."""

    def __init__(self, value: float) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> float:
        self.calls += 1
        return self.value


def test_lazy_logs_compute_a_value_only_when_read_and_only_once():
    loss, accuracy = Counter(0.25), Counter(0.75)
    logs = LazyLogs({"loss": loss, "accuracy": accuracy})
    assert list(logs) == ["loss", "accuracy"]
    assert len(logs) == 2
    assert "loss" in logs and "val_loss" not in logs
    assert (loss.calls, accuracy.calls) == (0, 0)
    assert logs["loss"] == 0.25
    assert logs["loss"] == 0.25
    assert (loss.calls, accuracy.calls) == (1, 0)
    assert logs.get("accuracy") == 0.75
    assert logs.get("missing") is None
    assert dict(logs) == {"loss": 0.25, "accuracy": 0.75}
    assert (loss.calls, accuracy.calls) == (1, 1)


def test_lazy_logs_values_are_python_floats_and_unknown_keys_raise():
    logs = LazyLogs({"loss": lambda: torch.tensor(1.5)})
    assert type(logs["loss"]) is float
    with pytest.raises(KeyError):
        logs["nope"]


def test_lazy_logs_repr_does_not_read():
    loss = Counter(1.0)
    logs = LazyLogs({"loss": loss, "accuracy": Counter(0.5)})
    assert repr(logs) == "LazyLogs({'loss': <not read>, 'accuracy': <not read>})"
    assert loss.calls == 0
    logs["loss"]
    assert repr(logs) == "LazyLogs({'loss': 1.0, 'accuracy': <not read>})"


def test_lazy_logs_are_read_only():
    logs = LazyLogs({"loss": lambda: 1.0})
    with pytest.raises(TypeError):
        logs["loss"] = 2.0  # type: ignore[index]


class Stream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_emit_writes_one_flushed_line_to_the_stream_or_stdout(capsys):
    stream = Stream()
    emit(stream, "Epoch 3: reducing the learning rate to 0.01.")
    assert stream.getvalue() == "Epoch 3: reducing the learning rate to 0.01.\n"
    assert stream.flushes == 1
    emit(None, "to stdout")
    assert capsys.readouterr().out == "to stdout\n"
