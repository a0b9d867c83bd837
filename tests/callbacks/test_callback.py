"""LazyLogs, the Callback base and CallbackList's dispatch."""

from __future__ import annotations

import io

import pytest

from deepdescent.callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    History,
    LazyLogs,
    ProgbarLogger,
    ReduceLROnPlateau,
)


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
    import torch

    logs = LazyLogs({"loss": lambda: torch.tensor(1.5)})
    assert type(logs["loss"]) is float
    with pytest.raises(KeyError):
        logs["nope"]


def test_lazy_logs_repr_does_not_read():
    loss = Counter(1.0)
    assert "not read" in repr(LazyLogs({"loss": loss}))
    assert loss.calls == 0


class Recorder(Callback):
    def __init__(self, name: str, journal: list) -> None:
        super().__init__()
        self.name, self.journal = name, journal

    def on_epoch_end(self, epoch, logs=None):
        self.journal.append((self.name, "epoch_end", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.journal.append((self.name, "batch_end", batch))


class OldStyle(Callback):
    """Overrides only Keras's older alias ``on_batch_end``."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def on_batch_end(self, batch, logs=None):
        self.batches.append(batch)


def test_callback_list_calls_hooks_in_order_and_sets_model_and_params(model):
    journal: list = []
    first, second = Recorder("a", journal), Recorder("b", journal)
    callbacks = CallbackList([first, second], model=model, epochs=3, steps=2, verbose=0)
    callbacks.on_train_batch_end(0, {})
    callbacks.on_epoch_end(0, {})
    assert journal == [
        ("a", "batch_end", 0),
        ("b", "batch_end", 0),
        ("a", "epoch_end", 0),
        ("b", "epoch_end", 0),
    ]
    assert first.model is model and second.params == {"epochs": 3, "steps": 2, "verbose": 0}


def test_callback_list_adds_history_once_and_sets_model_history(model):
    callbacks = CallbackList([], model=model)
    assert [type(cb) for cb in callbacks] == [History]
    assert model.history is callbacks.callbacks[0]
    mine = History()
    assert list(CallbackList([mine])) == [mine]
    assert list(CallbackList([], add_history=False)) == []


@pytest.mark.parametrize(("verbose", "expected"), [(0, False), (1, True), (2, True)])
def test_callback_list_adds_progbar_when_verbose(model, verbose, expected):
    callbacks = CallbackList(None, model=model, verbose=verbose, epochs=1, steps=1)
    assert any(isinstance(cb, ProgbarLogger) for cb in callbacks) is expected


def test_progbar_is_decided_when_params_arrive_and_not_duplicated(model):
    callbacks = CallbackList([ProgbarLogger(stream=io.StringIO())])
    callbacks.set_model(model)
    callbacks.set_params({"verbose": 1, "epochs": 2, "steps": 3})
    assert sum(isinstance(cb, ProgbarLogger) for cb in callbacks) == 1
    late = CallbackList([])
    late.set_params({"verbose": 1, "epochs": 2, "steps": 3})
    assert isinstance(late.callbacks[-1], ProgbarLogger)
    assert late.callbacks[-1].target == 3


def test_explicit_add_progbar_wins_over_verbose():
    assert not any(
        isinstance(cb, ProgbarLogger) for cb in CallbackList(add_progbar=False, verbose=1)
    )
    assert any(isinstance(cb, ProgbarLogger) for cb in CallbackList(add_progbar=True, verbose=0))


def test_keras_alias_on_batch_end_is_still_called(model):
    old = OldStyle()
    callbacks = CallbackList([old], model=model)
    for batch in range(3):
        callbacks.on_train_batch_end(batch, {})
    assert old.batches == [0, 1, 2]


def test_batch_hooks_skip_callbacks_that_keep_the_base_no_op(monkeypatch):
    callbacks = CallbackList([Callback()], add_history=False)
    calls = []
    # Had the list called the base's hook, this replacement would record it.
    monkeypatch.setattr(Callback, "on_train_batch_end", lambda self, b, logs=None: calls.append(b))
    callbacks.on_train_batch_end(0, {})
    assert calls == []


def test_a_whole_epoch_with_the_default_callbacks_reads_no_batch_value(model):
    """History, the progress bar on a non-terminal stream, EarlyStopping: no device sync."""
    loss = Counter(0.5)
    callbacks = CallbackList(
        [EarlyStopping(monitor="loss"), ProgbarLogger(stream=io.StringIO())],
        model=model,
        verbose=1,
        epochs=1,
        steps=50,
    )
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(0)
    for batch in range(50):
        callbacks.on_train_batch_begin(batch)
        callbacks.on_train_batch_end(batch, LazyLogs({"loss": loss}))
    assert loss.calls == 0
    callbacks.on_epoch_end(0, {"loss": 0.5})
    callbacks.on_train_end({"loss": 0.5})


def test_callback_list_refuses_non_callbacks():
    with pytest.raises(TypeError, match=r"Invalid callbacks\[1\]"):
        CallbackList([History(), "early_stopping"])
    with pytest.raises(TypeError, match="Invalid callback"):
        CallbackList().append(print)


def test_append_passes_model_and_params(model):
    callbacks = CallbackList(model=model, epochs=2, steps=1, verbose=0)
    journal: list = []
    recorder = Recorder("late", journal)
    callbacks.append(recorder)
    assert recorder.model is model and recorder.params["epochs"] == 2
    callbacks.on_train_batch_end(0, {})
    assert journal == [("late", "batch_end", 0)]


def _resumed(make, model, before, after, key="val_loss"):
    """Drive a callback made by ``make`` through epochs logging ``before`` then
    ``after``; and a second one through ``before``, whose state (through a backup's
    encoding) a third takes over for ``after``. Returns the first and the third."""
    from deepdescent.utils.state import pack, unpack

    whole, first = make(), make()
    for callback in (whole, first):
        callback.set_model(model)
        callback.on_train_begin({})
    for epoch, value in enumerate(before):
        for callback in (whole, first):
            callback.on_epoch_end(epoch, {key: value})
    skeleton, tensors = pack(first.state_dict())
    resumed = make()
    resumed.set_model(model)
    resumed.on_train_begin({})
    resumed.load_state_dict(unpack(skeleton, tensors))
    for epoch, value in enumerate(after, start=len(before)):
        for callback in (whole, resumed):
            callback.on_epoch_end(epoch, {key: value})
    return whole, resumed


@pytest.mark.parametrize(
    ("make", "attributes"),
    [
        (lambda: History(), ("history", "epoch")),
        (
            lambda: EarlyStopping(patience=3, restore_best_weights=True),
            ("wait", "best", "best_epoch", "stopped_epoch"),
        ),
        (
            lambda: ReduceLROnPlateau(patience=1, cooldown=1),
            ("wait", "best", "cooldown_counter"),
        ),
    ],
)
def test_a_callback_resumed_from_its_state_continues_as_if_never_stopped(model, make, attributes):
    before, after = [1.0, 0.8, 0.9, 0.95], [0.97, 0.7, 0.75, 0.8, 0.9]
    whole, resumed = _resumed(make, model, before, after)
    for name in attributes:
        assert getattr(resumed, name) == getattr(whole, name), name


def test_the_base_callback_keeps_no_state():
    callback = Callback()
    assert callback.state_dict() == {}
    callback.load_state_dict({})


def test_a_callback_list_hands_each_state_to_its_callback_by_class_and_rank():
    first, second = History(), History()
    first.history, second.history = {"loss": [1.0]}, {"loss": [2.0]}
    state = CallbackList([first, second, ProgbarLogger()], add_history=False).state_dict()
    assert set(state) == {"History:0", "History:1", "ProgbarLogger:0"}
    again = CallbackList([History(), History()], add_history=False)
    again.load_state_dict(state)
    assert [cb.history for cb in again] == [{"loss": [1.0]}, {"loss": [2.0]}]
