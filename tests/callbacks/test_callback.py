"""The Callback base: every hook a no-op, the run's parameters and model kept, and Keras's
older batch names called by the newer ones."""

from __future__ import annotations

import inspect

from deepdescent.callbacks import Callback


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
