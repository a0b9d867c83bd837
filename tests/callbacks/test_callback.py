"""The Callback base: every hook a no-op, the run's parameters and model kept, and Keras's
older batch names called by the newer ones."""

from __future__ import annotations

import inspect

import pytest

from deepdescent.callbacks import Callback, EarlyStopping, History, ReduceLROnPlateau
from deepdescent.utils.state import pack, unpack


def _hooks():
    return [
        name
        for name, _ in inspect.getmembers(Callback, inspect.isfunction)
        if name.startswith("on_")
    ]


def test_every_hook_is_a_no_op():
    callback = Callback()
    hooks = _hooks()
    # train/test/predict and epoch begin and end (8), their batches (6), older names (2)
    assert len(hooks) == 16
    for name in hooks:
        parameters = inspect.signature(getattr(Callback, name)).parameters
        arguments = (0, {}) if "batch" in parameters or "epoch" in parameters else ({},)
        assert getattr(callback, name)(*arguments) is None
    assert callback.params == {} and callback.model is None
    assert Callback.needs_autograd is False


def test_params_are_copied_and_the_model_is_kept():
    callback, params, model = Callback(), {"epochs": 3, "verbose": 0}, object()
    callback.set_params(params)
    params["epochs"] = 99
    assert callback.params == {"epochs": 3, "verbose": 0}
    callback.set_model(model)
    assert callback.model is model


class OldStyle(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    def on_batch_begin(self, batch, logs=None):
        self.calls.append(("begin", batch))

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("end", batch))


def test_the_train_batch_hooks_call_kerass_older_names():
    callback = OldStyle()
    callback.on_train_batch_begin(4, {})
    callback.on_train_batch_end(4, {})
    callback.on_test_batch_end(5, {})
    assert callback.calls == [("begin", 4), ("end", 4)]


def test_the_base_callback_keeps_no_state():
    callback = Callback()
    assert callback.state_dict() == {}
    callback.load_state_dict({})


def _resumed(make, model, before, after, key="val_loss"):
    """Drive a callback made by ``make`` through epochs logging ``before`` then
    ``after``; and a second one through ``before``, whose state (through a backup's
    encoding) a third takes over for ``after``. Returns the first and the third."""
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
