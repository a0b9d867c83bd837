"""CallbackList: the order of the calls, the History and progress bar it adds, and batch
hooks dispatched only to the callbacks that override them."""

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
)


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
    reads: list[str] = []
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
        callbacks.on_train_batch_end(batch, LazyLogs({"loss": lambda: reads.append("loss") or 0.5}))
    assert reads == []
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


def _recording(hook):
    def record(self, *args):
        self.journal.append((hook, *args))

    return record


class Everything(Callback):
    """Overrides every hook and records it, with the logs it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.journal: list = []


for _hook in [name for name in vars(Callback) if name.startswith("on_")]:
    setattr(Everything, _hook, _recording(_hook))


def test_test_and_predict_hooks_reach_the_callbacks_and_missing_logs_become_empty():
    recorder = Everything()
    callbacks = CallbackList([recorder], add_history=False)
    callbacks.on_test_begin()
    callbacks.on_test_batch_begin(0)
    callbacks.on_test_batch_end(0, {"loss": 1.0})
    callbacks.on_test_end({"loss": 1.0})
    callbacks.on_predict_begin()
    callbacks.on_predict_batch_begin(0)
    callbacks.on_predict_batch_end(0)
    callbacks.on_predict_end()
    callbacks.on_epoch_begin(2)
    assert recorder.journal == [
        ("on_test_begin", {}),
        ("on_test_batch_begin", 0, {}),  # Keras 3 passes a dict to every hook
        ("on_test_batch_end", 0, {"loss": 1.0}),
        ("on_test_end", {"loss": 1.0}),
        ("on_predict_begin", {}),
        ("on_predict_batch_begin", 0, {}),
        ("on_predict_batch_end", 0, {}),
        ("on_predict_end", {}),
        ("on_epoch_begin", 2, {}),
    ]


def test_listens_says_whether_any_callback_overrides_a_batch_hook():
    quiet = CallbackList([Callback(), History()], add_history=False)
    assert not any(quiet.listens(hook) for hook in ("on_train_batch_end", "on_test_batch_end"))
    journal: list = []
    loud = CallbackList([Recorder("a", journal)], add_history=False)
    assert loud.listens("on_train_batch_end") and not loud.listens("on_train_batch_begin")
    assert CallbackList([OldStyle()], add_history=False).listens("on_train_batch_end")
    assert len(loud) == 1


def test_a_callback_list_hands_each_state_to_its_callback_by_class_and_rank():
    first, second = History(), History()
    first.history, second.history = {"loss": [1.0]}, {"loss": [2.0]}
    state = CallbackList([first, second, ProgbarLogger()], add_history=False).state_dict()
    assert set(state) == {"History:0", "History:1", "ProgbarLogger:0"}
    again = CallbackList([History(), History()], add_history=False)
    again.load_state_dict(state)
    assert [cb.history for cb in again] == [{"loss": [1.0]}, {"loss": [2.0]}]
